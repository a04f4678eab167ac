// ModuleImage: the private copy of a module file that dlopen maps.
//
// The server never maps a plugin file where the user keeps it. A file
// overwritten in place (`cp new.so plugins/`) while mapped would change code
// under running threads; and dlopen hands back the module it already has for a
// path it has seen, so a new build at the same path would never load. Each load
// therefore copies the file under a unique name into a directory only this
// process uses, maps the copy, and unlinks it once mapped (the mapping keeps
// the inode alive, and nothing is left behind on disk, even after kill -9, but
// the empty directory).
//
//   ModuleImage image("plugins/geoip.so");      // copies, hashes; throws LoadError
//   dlopen(image.path().c_str(), ...);
//   // ~ModuleImage unlinks the copy
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace posthog::server {

class ModuleImage {
 public:
  explicit ModuleImage(const std::filesystem::path& source);
  ~ModuleImage();
  ModuleImage(const ModuleImage&) = delete;
  ModuleImage& operator=(const ModuleImage&) = delete;

  const std::filesystem::path& path() const noexcept { return copy_; }
  // FNV-1a 64 of the bytes, as 16 hex digits: two loads of the same build
  // have the same hash, so a swap to identical bytes is recognised as none.
  const std::string& content_hash() const noexcept { return hash_; }
  std::uint64_t size() const noexcept { return size_; }

 private:
  std::filesystem::path copy_;
  std::string hash_;
  std::uint64_t size_ = 0;
};

}  // namespace posthog::server
