// This process's resident memory, read from /proc/self/status: VmRSS now and
// VmHWM (the peak). Read from /proc rather than getrusage, whose maxrss also
// counts the pre-exec image of a parent. Both are in KiB, 0 when unknown.
#pragma once

namespace posthog::server {

long resident_kib();
long peak_resident_kib();

}  // namespace posthog::server
