#include "module_descriptor.hpp"

#include <posthog/version.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/load_error.hpp"

namespace posthog::server {
namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string compiler(std::uint32_t family, std::uint32_t major) {
  const char* name = family == POSTHOG_COMPILER_GCC ? "gcc" : family == POSTHOG_COMPILER_CLANG ? "clang" : "other";
  return std::string(name) + " " + std::to_string(major);
}

std::string boost_version(std::uint32_t v) {
  return std::to_string(v / 100000) + "." + std::to_string(v / 100 % 1000) + "." + std::to_string(v % 100);
}

std::string sdk_version(std::uint32_t v) {
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string cxx11_abi(std::uint32_t v) {
  return v == 1 ? "libstdc++ new ABI (_GLIBCXX_USE_CXX11_ABI=1)"
                : v == 0 ? "libstdc++ old ABI (_GLIBCXX_USE_CXX11_ABI=0)" : "not libstdc++";
}

template <class T>
T load(std::span<const unsigned char> bytes, std::size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

std::string string_at(const std::string& file, std::span<const unsigned char> blob, std::uint32_t offset,
                      std::uint32_t size, const char* what) {
  if (std::uint64_t(offset) + size + 1 > blob.size() || blob[offset + size] != 0)
    throw LoadError(file, LoadStep::descriptor,
                    {std::string(what) + ": offset " + std::to_string(offset) + " + size " + std::to_string(size) +
                     " lies outside the " + std::to_string(blob.size()) + "-byte descriptor"});
  return std::string(reinterpret_cast<const char*>(blob.data() + offset), size);
}

}  // namespace

std::string describe(const posthog_build_fingerprint& f) {
  return "sdk " + sdk_version(f.sdk_version) + ", " + compiler(f.compiler_family, f.compiler_major) + ", " +
         cxx11_abi(f.cxx11_abi) + ", boost " + boost_version(f.boost_version);
}

std::vector<std::string> capability_list(std::uint64_t caps) {
  static constexpr std::pair<std::uint64_t, const char*> names[] = {
      {POSTHOG_CAP_SETUP_INSTANCE, "setup_instance"}, {POSTHOG_CAP_PROCESS_EVENT, "process_event"},
      {POSTHOG_CAP_ON_EVENT, "on_event"},             {POSTHOG_CAP_EXPORT_EVENTS, "export_events"},
      {POSTHOG_CAP_RUN_EVERY_MINUTE, "run_every_minute"}, {POSTHOG_CAP_RUN_EVERY_HOUR, "run_every_hour"},
      {POSTHOG_CAP_RUN_EVERY_DAY, "run_every_day"},   {POSTHOG_CAP_TEARDOWN, "teardown"},
      {POSTHOG_CAP_JOBS, "jobs"},
      {POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT, "process_event_noexcept"},
      {POSTHOG_CAP_METRICS, "metrics"}};
  std::vector<std::string> out;
  for (auto [bit, name] : names)
    if (caps & bit) out.emplace_back(name);
  return out;
}

boost::json::object ModuleDescriptor::to_json() const {
  boost::json::object o;
  o["name"] = name;
  o["version"] = version;
  o["abi"] = std::to_string(header.abi_major) + "." + std::to_string(header.abi_minor);
  o["build_fingerprint"] = describe(header.build);
  boost::json::array caps;
  for (auto const& c : capability_list(header.capabilities)) caps.emplace_back(c);
  o["capabilities"] = std::move(caps);
  return o;
}

ModuleDescriptor decode_descriptor(const std::string& file, std::span<const unsigned char> bytes) {
  auto refuse = [&](std::string line) { return LoadError(file, LoadStep::descriptor, {std::move(line)}); };
  constexpr std::size_t prefix = offsetof(posthog_plugin_descriptor, layout);  // size .. abi_minor
  if (bytes.size() < prefix)
    throw refuse("size: the descriptor has " + std::to_string(bytes.size()) + " bytes, fewer than the " +
                 std::to_string(prefix) + " every version starts with");
  auto const magic = load<std::uint64_t>(bytes, offsetof(posthog_plugin_descriptor, magic));
  if (magic != POSTHOG_ABI_MAGIC)
    throw refuse("magic: server expects " + hex(POSTHOG_ABI_MAGIC) + ", module has " + hex(magic) +
                 ": not a PostHog plugin descriptor");
  auto const size = load<std::uint32_t>(bytes, offsetof(posthog_plugin_descriptor, size));
  if (size > bytes.size() || size < prefix)
    throw refuse("size: the descriptor declares " + std::to_string(size) + " bytes but its section holds " +
                 std::to_string(bytes.size()) + ": the file is truncated or corrupt");
  auto blob = bytes.first(size);
  auto const major = load<std::uint16_t>(blob, offsetof(posthog_plugin_descriptor, abi_major));
  auto const minor = load<std::uint16_t>(blob, offsetof(posthog_plugin_descriptor, abi_minor));
  if (major != POSTHOG_ABI_MAJOR)
    throw refuse("abi_major: server has " + std::to_string(POSTHOG_ABI_MAJOR) + ", plugin has " +
                 std::to_string(major) + ": rebuild the plugin against an SDK with plugin ABI " +
                 std::to_string(POSTHOG_ABI_MAJOR) + ".x");
  if (minor > POSTHOG_ABI_MINOR)
    throw refuse("abi_minor: server has " + std::to_string(POSTHOG_ABI_MAJOR) + "." +
                 std::to_string(POSTHOG_ABI_MINOR) + ", plugin needs " + std::to_string(major) + "." +
                 std::to_string(minor) + ": upgrade the server, or rebuild the plugin with an older SDK");
  // The header grows at its end like the tables: the fields a module's header
  // has are read, later ones stay zero; a header larger than this server's
  // (only a newer minor's, refused above) would have its tail ignored.
  auto const header_size = load<std::uint32_t>(blob, offsetof(posthog_plugin_descriptor, header_size));
  if (header_size < POSTHOG_DESCRIPTOR_MIN_HEADER_SIZE || header_size > size)
    throw refuse("header_size: the plugin's descriptor header has " + std::to_string(header_size) +
                 " bytes; every ABI " + std::to_string(POSTHOG_ABI_MAJOR) + ".x header has at least " +
                 std::to_string(POSTHOG_DESCRIPTOR_MIN_HEADER_SIZE) + " (through manifest_size), within the " +
                 std::to_string(size) + "-byte descriptor: the file is corrupt or was not built with the SDK");

  ModuleDescriptor d;  // value-initialised: fields past the module's header read as zero
  std::memcpy(&d.header, blob.data(), std::min<std::size_t>(header_size, sizeof d.header));
  auto const& h = d.header;
  std::vector<std::string> mismatches;
  auto const layout = layout_fingerprint();
  auto check = [&](const char* field, auto server, auto plugin, const std::string& shown_server,
                   const std::string& shown_plugin, const char* fix) {
    if (server != plugin)
      mismatches.push_back(std::string(field) + ": server has " + shown_server + ", plugin has " + shown_plugin +
                           "; " + fix);
  };
  const char* rebuild = "rebuild the plugin on the server's platform";
  check("layout.pointer_size", layout.pointer_size, h.layout.pointer_size, std::to_string(layout.pointer_size),
        std::to_string(h.layout.pointer_size), rebuild);
  check("layout.long_size", layout.long_size, h.layout.long_size, std::to_string(layout.long_size),
        std::to_string(h.layout.long_size), rebuild);
  check("layout.max_align", layout.max_align, h.layout.max_align, std::to_string(layout.max_align),
        std::to_string(h.layout.max_align), rebuild);
  check("layout.little_endian", layout.little_endian, h.layout.little_endian, std::to_string(layout.little_endian),
        std::to_string(h.layout.little_endian), rebuild);
  if (minor == POSTHOG_ABI_MINOR)
    check("abi_header_hash", POSTHOG_ABI_HEADER_HASH, h.abi_header_hash, hex(POSTHOG_ABI_HEADER_HASH),
          hex(h.abi_header_hash), "the plugin was built with a modified posthog/abi.h; rebuild it with the released SDK");

  // build.sdk_version is not compared: no type of the SDK's own crosses the
  // line (abi.h); the ABI version and the fields below cover what does.
  auto const b = build_fingerprint();
  const char* same_toolchain = "rebuild the plugin with the server's toolchain (see `posthog-plugin-server --version`)";
  check("build.compiler", b.compiler_family * 1000 + b.compiler_major,
        h.build.compiler_family * 1000 + h.build.compiler_major, compiler(b.compiler_family, b.compiler_major),
        compiler(h.build.compiler_family, h.build.compiler_major), same_toolchain);
  check("build.cxx11_abi", b.cxx11_abi, h.build.cxx11_abi, cxx11_abi(b.cxx11_abi), cxx11_abi(h.build.cxx11_abi),
        same_toolchain);
  check("build.boost_version", b.boost_version, h.build.boost_version, boost_version(b.boost_version),
        boost_version(h.build.boost_version), "rebuild the plugin against the server's Boost version");
  if (!mismatches.empty()) throw LoadError(file, LoadStep::descriptor, std::move(mismatches));

  d.name = string_at(file, blob, h.name_offset, h.name_size, "name");
  d.version = string_at(file, blob, h.version_offset, h.version_size, "version");
  d.manifest = string_at(file, blob, h.manifest_offset, h.manifest_size, "manifest");
  if (d.name.empty()) throw refuse("name: empty");
  return d;
}

}  // namespace posthog::server
