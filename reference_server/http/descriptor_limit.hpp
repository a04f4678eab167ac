// The process's file descriptor limit, and how many of them capture's
// connections may use.
//
// Every connection is a descriptor, and so are the store, the sink, the admin
// port's connections, Redis connections and whatever plugins open. A server
// that lets clients take them all fails everywhere at once (EMFILE on the
// store, on the admin port, on accept itself), so capture's connection cap is
// kept below the limit by a reserve for everything else.
#pragma once

#include <cstddef>

namespace posthog::server {

// Raises the soft RLIMIT_NOFILE to the hard one (what a server may do without
// privileges) and returns the soft limit in force afterwards.
std::size_t raise_descriptor_limit() noexcept;

// `wanted` connections, or fewer when the limit minus `reserve` allows fewer
// (never below 1).
std::size_t connection_cap(std::size_t wanted, std::size_t descriptor_limit, std::size_t reserve) noexcept;

}  // namespace posthog::server
