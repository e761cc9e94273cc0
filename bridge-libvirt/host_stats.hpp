// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The host's memory and CPU figures libvirt's node calls report (virsh freecell, nodecpumap,
// nodecpustats, nodememstats, sysinfo), read from the kernel the way libvirt's Linux host
// code reads them: /proc/meminfo and the NUMA nodes' meminfo, /proc/stat, the CPU lists of
// /sys/devices/system/cpu, and the firmware's DMI tables in /sys/class/dmi/id. The parsers
// take text so they are tested on recorded files.
namespace virtswarm::bridge {

// MemTotal, MemFree, Buffers, Cached in KiB; a NUMA node's meminfo ("Node 0 MemFree: ...")
// has no Buffers or Cached.
struct MemoryFigures {
    uint64_t totalKiB = 0;
    uint64_t freeKiB = 0;
    std::optional<uint64_t> buffersKiB;
    std::optional<uint64_t> cachedKiB;
};
std::optional<MemoryFigures> parseMeminfo(std::string_view text);

// "0-3,6" -> {0,1,2,3,6}; nothing for malformed text.
std::optional<std::vector<int>> parseCpuList(std::string_view text);

// One line of /proc/stat ("cpu" for all, "cpuN"), as libvirt's node CPU statistics in
// nanoseconds: kernel (system + irq + softirq), user (user + nice), idle, iowait.
struct CpuTimes {
    uint64_t kernel = 0;
    uint64_t user = 0;
    uint64_t idle = 0;
    uint64_t iowait = 0;
};
std::optional<CpuTimes> parseProcStatCpu(std::string_view procStat, int cpu, long ticksPerSecond);

// The host's NUMA nodes (ids), empty when the kernel has no node directory.
std::vector<int> numaNodes();
// The memory of one NUMA node (-1: the whole host).
std::optional<MemoryFigures> memoryFigures(int cell);
// The CPUs present (their count is the highest id + 1) and online.
std::vector<int> presentCpus();
std::vector<int> onlineCpus();
std::optional<CpuTimes> cpuTimes(int cpu);

// <sysinfo type='smbios'>: the firmware's BIOS, system and board strings where the kernel
// exposes them, and each CPU package as /proc/cpuinfo names it.
std::string sysinfoXml();

} // namespace virtswarm::bridge
