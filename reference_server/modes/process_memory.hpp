// This process's resources: resident memory, read from /proc/self/status: VmRSS now and
// VmHWM (the peak). Read from /proc rather than getrusage, whose maxrss also
// counts the pre-exec image of a parent. Both are in KiB, 0 when unknown.
#pragma once

namespace posthog::server {

long resident_kib();
long peak_resident_kib();
// CPU time this process has used so far (user + system), in seconds.
double cpu_seconds();

}  // namespace posthog::server
