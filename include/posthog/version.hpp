// posthog/version.hpp: the SDK version and the build fingerprint of the C++ layer.
//
// The fingerprint is what a module and the server must agree on before an event
// (a boost::json::object) can cross between them by pointer: the compiler family
// and major version, libstdc++'s dual-ABI switch and the Boost version. The
// loader compares it field by field and names the first field that differs.
//
//   posthog_build_fingerprint mine = posthog::build_fingerprint();
#pragma once

#include <boost/version.hpp>
#include <cstddef>

#include "abi.h"

#define POSTHOG_SDK_VERSION_MAJOR 0
#define POSTHOG_SDK_VERSION_MINOR 1
#define POSTHOG_SDK_VERSION_PATCH 0

namespace posthog {

inline constexpr unsigned sdk_version =
    POSTHOG_SDK_VERSION_MAJOR * 10000 + POSTHOG_SDK_VERSION_MINOR * 100 + POSTHOG_SDK_VERSION_PATCH;

constexpr posthog_build_fingerprint build_fingerprint() noexcept {
  posthog_build_fingerprint f{};
  f.sdk_version = sdk_version;
#if defined(__clang__)
  f.compiler_family = POSTHOG_COMPILER_CLANG;
  f.compiler_major = __clang_major__;
#elif defined(__GNUC__)
  f.compiler_family = POSTHOG_COMPILER_GCC;
  f.compiler_major = __GNUC__;
#else
  f.compiler_family = POSTHOG_COMPILER_OTHER;
  f.compiler_major = 0;
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
  f.cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
#else
  f.cxx11_abi = 2;
#endif
  f.boost_version = BOOST_VERSION;
  f.reserved = 0;
  return f;
}

constexpr posthog_layout_fingerprint layout_fingerprint() noexcept {
  posthog_layout_fingerprint l{};
  l.pointer_size = sizeof(void*);
  l.long_size = sizeof(long);
  l.max_align = alignof(std::max_align_t);
  l.little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 1 : 0;
  return l;
}

}  // namespace posthog
