#include "log_state.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace posthog::server {
namespace {

constexpr char magic[8] = {'P', 'H', 'L', 'O', 'G', 'S', 'T', '1'};

struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t partitions;
  char boot_id[48];
};
constexpr std::size_t slots_at = 128;  // the header's room, a multiple of the slots' alignment
static_assert(sizeof(Header) <= slots_at);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

std::runtime_error failure(const std::filesystem::path& file, const std::string& what) {
  return std::runtime_error(file.string() + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

LogState::LogState(const std::filesystem::path& file, std::size_t partitions) : file_(file), partitions_(partitions) {
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw failure(file, "cannot open the event log's state");
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw failure(file, "cannot read the event log's state");
  bool const fresh = st.st_size == 0;
  map_bytes_ = slots_at + partitions * sizeof(PartitionState);
  // A file made for more partitions keeps its size: mapping less of it is fine.
  if (static_cast<std::size_t>(st.st_size) < map_bytes_ && ::ftruncate(fd_, static_cast<off_t>(map_bytes_)) != 0)
    throw failure(file, "cannot size the event log's state");
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw failure(file, "cannot map the event log's state");
  }
  auto* header = static_cast<Header*>(map_);
  slots_ = reinterpret_cast<PartitionState*>(static_cast<char*>(map_) + slots_at);
  if (fresh || std::memcmp(header->magic, magic, sizeof magic) != 0) {
    if (!fresh)
      throw std::runtime_error(file.string() + ": not an event log state file (move it away, or point serve.log.dir "
                                               "elsewhere)");
    reset(0);
    return;
  }
  stored_partitions_ = header->partitions;
  std::string const boot(header->boot_id, strnlen(header->boot_id, sizeof header->boot_id));
  same_boot_ = !boot.empty() && boot == current_boot_id();
}

LogState::~LogState() {
  if (map_) ::munmap(map_, map_bytes_);
  if (fd_ >= 0) ::close(fd_);
}

void LogState::reset(std::uint64_t offset) {
  auto* header = static_cast<Header*>(map_);
  for (std::size_t p = 0; p < partitions_; ++p) {
    slots_[p].committed.store(offset);
    slots_[p].sinking.store(offset);
    slots_[p].durable.store(offset);
  }
  std::memcpy(header->magic, magic, sizeof magic);
  header->version = 1;
  header->partitions = static_cast<std::uint32_t>(partitions_);
  stored_partitions_ = partitions_;
  claim_boot();
  sync();
}

void LogState::claim_boot() {
  auto* header = static_cast<Header*>(map_);
  auto const id = current_boot_id();
  std::memset(header->boot_id, 0, sizeof header->boot_id);
  std::memcpy(header->boot_id, id.data(), std::min(id.size(), sizeof header->boot_id - 1));
  same_boot_ = true;
}

void LogState::sync() {
  if (::msync(map_, map_bytes_, MS_SYNC) != 0) throw failure(file_, "cannot sync the event log's state");
}

}  // namespace posthog::server
