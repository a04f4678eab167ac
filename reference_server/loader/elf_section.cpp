#include "elf_section.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/load_error.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t max_section_size = 16u << 20;

#if defined(__x86_64__)
constexpr int host_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int host_machine = EM_AARCH64;
#else
constexpr int host_machine = -1;  // not checked
#endif

class File {
 public:
  explicit File(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }
  bool read_at(void* out, std::size_t size, off_t offset) const {
    auto* p = static_cast<char*>(out);
    while (size) {
      ssize_t n = ::pread(fd_, p, size, offset);
      if (n <= 0) return false;
      p += n;
      size -= static_cast<std::size_t>(n);
      offset += n;
    }
    return true;
  }

 private:
  int fd_;
};

const char* elf_type_name(unsigned type) {
  switch (type) {
    case ET_REL: return "a relocatable object (.o)";
    case ET_EXEC: return "an executable";
    case ET_CORE: return "a core dump";
    default: return "not a shared object";
  }
}

}  // namespace

std::vector<unsigned char> read_elf_section(const std::string& path, const char* section) {
  File file(path);
  if (file.fd() < 0) throw LoadError(path, LoadStep::file, {std::string("cannot open: ") + std::strerror(errno)});
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0 || !S_ISREG(st.st_mode))
    throw LoadError(path, LoadStep::file, {"not a regular file"});
  auto const file_size = static_cast<std::uint64_t>(st.st_size);

  Elf64_Ehdr eh{};
  if (file_size < sizeof eh || !file.read_at(&eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    throw LoadError(path, LoadStep::elf, {"not a shared object: the file does not start with the ELF magic bytes"});
  if (eh.e_ident[EI_CLASS] != ELFCLASS64)
    throw LoadError(path, LoadStep::elf, {"server is 64-bit, module is not an ELF64 file: rebuild it for this machine"});
  bool const little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (eh.e_ident[EI_DATA] != (little ? ELFDATA2LSB : ELFDATA2MSB))
    throw LoadError(path, LoadStep::elf, {"module byte order differs from the server's: rebuild it for this machine"});
  if (eh.e_type != ET_DYN)
    throw LoadError(path, LoadStep::elf,
                    {std::string("not a shared object: ELF file is ") + elf_type_name(eh.e_type) +
                     "; build plugins with posthog_add_plugin() (a MODULE library)"});
  if (host_machine >= 0 && eh.e_machine != host_machine)
    throw LoadError(path, LoadStep::elf,
                    {"server machine is ELF e_machine " + std::to_string(host_machine) + ", module has " +
                     std::to_string(eh.e_machine) + ": rebuild it for this machine"});

  auto bad_headers = [&] { return LoadError(path, LoadStep::elf, {"truncated or corrupt ELF section headers"}); };
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum ||
      eh.e_shoff > file_size || std::uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr) > file_size - eh.e_shoff)
    throw bad_headers();

  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  if (!file.read_at(sections.data(), sections.size() * sizeof(Elf64_Shdr), static_cast<off_t>(eh.e_shoff)))
    throw bad_headers();
  auto const& names = sections[eh.e_shstrndx];
  if (names.sh_offset > file_size || names.sh_size > file_size - names.sh_offset || names.sh_size > max_section_size)
    throw bad_headers();
  std::vector<char> name_table(names.sh_size + 1, '\0');
  if (!file.read_at(name_table.data(), names.sh_size, static_cast<off_t>(names.sh_offset))) throw bad_headers();

  for (auto const& s : sections) {
    if (s.sh_name >= names.sh_size || std::strcmp(&name_table[s.sh_name], section) != 0) continue;
    if (s.sh_type == SHT_NOBITS || s.sh_size == 0 || s.sh_size > max_section_size || s.sh_offset > file_size ||
        s.sh_size > file_size - s.sh_offset)
      throw LoadError(path, LoadStep::descriptor, {std::string("section ") + section + " is empty or out of bounds"});
    std::vector<unsigned char> bytes(s.sh_size);
    if (!file.read_at(bytes.data(), bytes.size(), static_cast<off_t>(s.sh_offset)))
      throw LoadError(path, LoadStep::descriptor, {std::string("cannot read section ") + section});
    return bytes;
  }
  throw LoadError(path, LoadStep::descriptor,
                  {std::string("no ") + section +
                   " section: this shared object is not a PostHog plugin module (build it with "
                   "POSTHOG_PLUGIN(Class) and posthog_add_plugin())"});
}

}  // namespace posthog::server
