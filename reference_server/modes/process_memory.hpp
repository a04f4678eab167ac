// This process's resources: resident memory, read from /proc/self/status: VmRSS now and
// VmHWM (the peak). Read from /proc rather than getrusage, whose maxrss also
// counts the pre-exec image of a parent. Both are in KiB, 0 when unknown.
#pragma once

namespace posthog::server {

long resident_kib();
long peak_resident_kib();
// CPU time this process has used so far (user + system), in seconds.
double cpu_seconds();
// Hands the heap's free pages back to the system (glibc keeps them otherwise):
// after set-up, whose parsed config and copies are gone, they are most of
// what a server with many teams would keep resident for nothing.
void return_free_memory() noexcept;

}  // namespace posthog::server
