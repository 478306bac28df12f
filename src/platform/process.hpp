// What the platform says about this process: its threads, and how many CPUs
// it may run on (the default worker count of weft::runtime).
#pragma once

#include <string>
#include <string_view>

namespace weft::detail {

// Threads of this process, or 0 where that cannot be known (not Linux).
unsigned process_thread_count() noexcept;

// CPUs the process may use: the smaller of its affinity mask and its cgroup
// CPU quota, at least 1. Read afresh on every call (both may change).
unsigned usable_cpus() noexcept;

// CPUs in the calling thread's affinity mask, or 0 where that cannot be known.
unsigned affinity_cpus() noexcept;

// The tightest cgroup CPU quota on the path of the process's cgroups, as
// whole CPUs rounded up (at least 1), or 0 where there is none.
// `proc_self_cgroup` is the text of /proc/self/cgroup; `root` is where the
// hierarchies are mounted (/sys/fs/cgroup). cgroup v2: <root><path>/cpu.max
// ("max 100000": none; "150000 100000": 1.5, so 2); v1: the cpu controller's
// cpu.cfs_quota_us / cpu.cfs_period_us under <root>/<controllers> or
// <root>/cpu. Each directory from the process's own up to the root counts: a
// parent's limit binds its children too. Missing or unreadable files: no limit.
unsigned cgroup_cpu_limit(const std::string& root, std::string_view proc_self_cgroup) noexcept;

}  // namespace weft::detail
