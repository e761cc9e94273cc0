// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "stats.hpp"
#include "virtswarm/domain_def.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

// Resource accounting from the places libvirt takes it: /proc for the CPU time of QEMU and
// of each vCPU thread, QEMU's RSS, the per-thread run-queue delay and placement; QMP
// answers (query-cpus-fast, query-balloon, query-blockstats, query-block) for the rest.
// Parsers are pure, so they are tested on recorded text; the readers only add the path.
namespace virtswarm::shim::accounting {

// One task's line of /proc/<pid>[/task/<tid>]/stat.
struct TaskStat {
    uint64_t userNs = 0;
    uint64_t systemNs = 0;
    int32_t processor = -1; // the host CPU it last ran on (field 39)
};

std::optional<TaskStat> parseTaskStat(std::string_view text, long ticksPerSecond);
// The second field of /proc/.../schedstat: nanoseconds spent runnable but not running.
std::optional<uint64_t> parseSchedstatDelay(std::string_view text);
// VmRSS of /proc/<pid>/status, in KiB.
std::optional<uint64_t> parseVmRssKiB(std::string_view status);
// A CPU set as a kernel-style list ("0-3,6").
std::string cpuListString(const std::vector<int>& cpus);

// `tid` 0 reads the process itself.
std::optional<TaskStat> readTaskStat(pid_t pid, pid_t tid = 0);
std::optional<uint64_t> readSchedstatDelay(pid_t pid, pid_t tid);
std::optional<uint64_t> readVmRssKiB(pid_t pid);
// The CPUs a thread may run on, empty when it cannot be read.
std::vector<int> readAffinity(pid_t tid);

// The disk target a query-blockstats or query-block entry belongs to: boot-time disks have a
// named backend ("drive-vda"), hotplugged ones only a device (/machine/peripheral/vda/...).
std::string diskTargetOf(const nlohmann::json& entry);

// cpu.*: QEMU's own CPU time.
void addCpuStats(Stats& s, pid_t pid);
// vcpu.current, vcpu.maximum, vcpu.N.{state,time,delay} from the vCPU threads that
// query-cpus-fast names, and their host placement as vcpuhost.N.{cpu,affinity} (what
// virDomainGetVcpus reports; not a domstats group).
void addVcpuStats(Stats& s, pid_t pid, uint32_t vcpus, const nlohmann::json& cpusFast);
// balloon.current and balloon.maximum (KiB): the balloon's actual size when QEMU has a
// balloon (query-balloon), else the definition's current memory; balloon.rss from /proc.
void addBalloonStats(Stats& s, pid_t pid, const DomainDef& def,
                     const std::optional<nlohmann::json>& balloon);
// block.count and block.N.*: counters from query-blockstats; capacity and allocation from
// query-block's image, physical from the size of the source on the host.
void addBlockStats(Stats& s, const DomainDef& def, const nlohmann::json& blockstats,
                   const nlohmann::json& blocks);
// net.count and net.N.*: a TAP's counters are the host's view (its rx is the guest's tx).
// User-mode networking has no host-side device: names and MACs only, never invented numbers.
void addNetStats(Stats& s, const DomainDef& def);

} // namespace virtswarm::shim::accounting
