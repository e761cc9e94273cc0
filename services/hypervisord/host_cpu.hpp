// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>
#include <string_view>
#include <vector>

// The host parts of <capabilities> libvirt derives from the kernel: the CPU (vendor,
// signature, microcode, topology, features), its cache banks, and the DAC security model
// QEMU runs under. Pure parsers over /proc/cpuinfo text, so they are tested on recordings.
namespace virtswarm::hypervisor {

struct HostCpu {
    std::string vendor; // libvirt's spelling: Intel, AMD
    std::string family, model, stepping, microcode;
    int sockets = 1, cores = 1, threads = 1;
    std::vector<std::string> features; // libvirt's feature names, sorted
};

// The first processor of /proc/cpuinfo, and the topology of all of them.
HostCpu parseCpuinfo(std::string_view cpuinfo);
// A Linux CPU flag as libvirt's cpu_map names it ("sse4_1" -> "sse4.1"), "" for flags that
// libvirt does not model (kernel-synthesised ones such as "rep_good").
std::string libvirtFeatureName(std::string_view linuxFlag);

// <cpu> ... </cpu> of <host>, indented for it.
std::string hostCpuXml();
// <cache> with a bank per shared L2/L3 cache (/sys/devices/system/cpu/cpu*/cache), or "".
std::string hostCacheXml();
// <secmodel>s: none, and dac with the uid:gid QEMU runs as.
std::string hostSecmodelXml();

} // namespace virtswarm::hypervisor
