// SPDX-License-Identifier: LGPL-2.1-or-later
#include "host_cpu.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/proc_text.hpp"
#include "virtswarm/qemu_user.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <map>
#include <pwd.h>
#include <set>
#include <tuple>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

std::string readTrimmed(const std::string& path) {
    auto text = readFile(path, 4096);
    return text ? std::string(proctext::trim(text.value())) : "";
}

} // namespace

std::string libvirtFeatureName(std::string_view flag) {
    // Linux flags libvirt spells differently, and the ones it has no feature for.
    static const std::map<std::string_view, std::string_view> kRenamed = {
        {"sse4_1", "sse4.1"},
        {"sse4_2", "sse4.2"},
        {"pclmulqdq", "pclmuldq"},
        {"tsc_deadline_timer", "tsc-deadline"},
        {"md_clear", "md-clear"},
        {"arch_capabilities", "arch-capabilities"},
        {"spec_ctrl", "spec-ctrl"},
        {"ssbd", "ssbd"},
        {"avx512_vnni", "avx512-vnni"},
        {"avx512_bf16", "avx512-bf16"},
        {"avx512_vpopcntdq", "avx512-vpopcntdq"},
        {"flush_l1d", "flush-l1d"},
        {"xsaveopt", "xsaveopt"},
        {"dtes64", "dtes64"},
        {"lahf_lm", "lahf_lm"},
        {"cmp_legacy", "cmp_legacy"},
        {"tsc_adjust", "tsc_adjust"},
        {"ds_cpl", "ds_cpl"},
    };
    static const std::set<std::string_view> kKernelOnly = {
        "constant_tsc",
        "rep_good",
        "nopl",
        "xtopology",
        "nonstop_tsc",
        "cpuid",
        "tsc_known_freq",
        "tsc_reliable",
        "arch_perfmon",
        "pebs",
        "bts",
        "aperfmperf",
        "eagerfpu",
        "pti",
        "ibrs_enhanced",
        "tpr_shadow",
        "vnmi",
        "flexpriority",
        "ept",
        "vpid",
        "ept_ad",
        "fsrm",
        "user_shstk",
        "cpuid_fault",
        "epb",
        "intel_pt",
        "dtherm",
        "ida",
        "pln",
        "pts",
        "hwp",
        "hwp_notify",
        "hwp_act_window",
        "hwp_epp",
        "hwp_pkg_req",
        "vmmcall",
        "decodeassists",
        "flushbyasid",
        "pausefilter",
        "pfthreshold",
        "v_vmsave_vmload",
        "vgif",
        "proc_feedback",
        "extd_apicid",
        "amd_dcm",
        "cpb",
        "hw_pstate",
        "sme",
        "sev",
        "sev_es",
        "ssbd_vm",
        "virt_ssbd",
        "split_lock_detect",
        "mba",
        "cat_l3",
        "cdp_l3",
        "cqm",
        "cqm_llc",
        "cqm_occup_llc",
        "cqm_mbm_total",
        "cqm_mbm_local",
        "rdt_a",
        "invpcid_single",
        "ring3mwait",
        "xenpv",
        "kaiser",
        "retpoline",
        "retpoline_amd",
        "zero_fcs_fds",
        "hypervisor_pending",
    };
    if (auto it = kRenamed.find(flag); it != kRenamed.end()) {
        return std::string(it->second);
    }
    if (kKernelOnly.count(flag) != 0) {
        return "";
    }
    return std::string(flag);
}

HostCpu parseCpuinfo(std::string_view cpuinfo) {
    HostCpu cpu;
    std::set<std::string> packages, coresSeen;
    int processors = 0;
    int siblings = 0, coresPerPackage = 0;
    bool first = true;
    std::string physicalId;
    while (!cpuinfo.empty()) {
        std::string_view line = proctext::nextLine(cpuinfo);
        size_t colon = line.find(':');
        if (proctext::trim(line).empty()) {
            first = first && processors == 0;
            continue;
        }
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view key = proctext::trim(line.substr(0, colon));
        std::string value(proctext::trim(line.substr(colon + 1)));
        if (key == "processor") {
            first = processors == 0;
            ++processors;
            continue;
        }
        if (key == "physical id") {
            packages.insert(value);
            physicalId = value;
        } else if (key == "core id") {
            coresSeen.insert(physicalId + "/" + value);
        }
        if (!first) {
            continue;
        }
        if (key == "vendor_id") {
            cpu.vendor = value == "GenuineIntel"   ? "Intel"
                         : value == "AuthenticAMD" ? "AMD"
                                                   : value;
        } else if (key == "cpu family") {
            cpu.family = value;
        } else if (key == "model") {
            cpu.model = value;
        } else if (key == "stepping") {
            cpu.stepping = value;
        } else if (key == "microcode") {
            cpu.microcode = value;
        } else if (key == "siblings") {
            siblings = std::atoi(value.c_str());
        } else if (key == "cpu cores") {
            coresPerPackage = std::atoi(value.c_str());
        } else if (key == "flags") {
            std::set<std::string> names;
            std::string_view flags = value;
            while (!flags.empty()) {
                size_t space = flags.find(' ');
                if (std::string name = libvirtFeatureName(flags.substr(0, space)); !name.empty()) {
                    names.insert(name);
                }
                flags = space == std::string_view::npos ? std::string_view()
                                                        : proctext::trim(flags.substr(space + 1));
            }
            cpu.features.assign(names.begin(), names.end());
        }
    }
    cpu.sockets = std::max<int>(1, static_cast<int>(packages.size()));
    cpu.cores = coresPerPackage > 0 ? coresPerPackage : std::max(1, processors / cpu.sockets);
    cpu.threads =
        coresPerPackage > 0 && siblings >= coresPerPackage ? siblings / coresPerPackage : 1;
    return cpu;
}

std::string hostCpuXml() {
    auto text = readFile("/proc/cpuinfo", 4 * 1024 * 1024);
    HostCpu cpu = parseCpuinfo(text ? text.value() : "");
    std::string x = "    <cpu>\n      <arch>x86_64</arch>\n";
    if (!cpu.vendor.empty()) {
        x += "      <vendor>" + cpu.vendor + "</vendor>\n";
    }
    if (!cpu.microcode.empty()) {
        x += "      <microcode version='" +
             std::to_string(std::strtoul(cpu.microcode.c_str(), nullptr, 0)) + "'/>\n";
    }
    if (!cpu.family.empty()) {
        x += "      <signature family='" + cpu.family + "' model='" + cpu.model + "' stepping='" +
             cpu.stepping + "'/>\n";
    }
    x += "      <topology sockets='" + std::to_string(cpu.sockets) + "' dies='1' cores='" +
         std::to_string(cpu.cores) + "' threads='" + std::to_string(cpu.threads) + "'/>\n";
    for (const auto& f : cpu.features) {
        x += "      <feature name='" + f + "'/>\n";
    }
    x += "      <pages unit='KiB' size='4'/>\n";
    if (::access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) == 0) {
        x += "      <pages unit='KiB' size='2048'/>\n";
    }
    if (::access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) == 0) {
        x += "      <pages unit='KiB' size='1048576'/>\n";
    }
    x += "    </cpu>\n";
    return x;
}

std::string hostCacheXml() {
    // One bank per distinct (level, type, shared CPUs) of the L2 and L3 caches, as libvirt.
    struct Bank {
        std::string level, type, size, cpus;
        bool operator<(const Bank& o) const {
            return std::tie(level, cpus, type) < std::tie(o.level, o.cpus, o.type);
        }
    };
    std::set<Bank> banks;
    long ncpus = ::sysconf(_SC_NPROCESSORS_CONF);
    for (long c = 0; c < ncpus; ++c) {
        for (int i = 0; i < 16; ++i) {
            std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cache/index" +
                              std::to_string(i) + "/";
            std::string level = readTrimmed(dir + "level");
            if (level.empty()) {
                break;
            }
            if (level != "2" && level != "3") {
                continue;
            }
            std::string type = readTrimmed(dir + "type");
            type = type == "Unified" ? "both" : type == "Data" ? "data" : "code";
            banks.insert(
                Bank{level, type, readTrimmed(dir + "size"), readTrimmed(dir + "shared_cpu_list")});
        }
    }
    if (banks.empty()) {
        return "";
    }
    std::string x = "    <cache>\n";
    std::map<std::string, int> ids;
    for (const auto& b : banks) {
        // "16384K" -> 16384 KiB
        std::string size = b.size;
        std::string unit = "KiB";
        if (!size.empty() && (size.back() == 'K' || size.back() == 'M')) {
            unit = size.back() == 'K' ? "KiB" : "MiB";
            size.pop_back();
        }
        x += "      <bank id='" + std::to_string(ids[b.level]++) + "' level='" + b.level +
             "' type='" + b.type + "' size='" + size + "' unit='" + unit + "' cpus='" + b.cpus +
             "'/>\n";
    }
    return x + "    </cache>\n";
}

std::string hostSecmodelXml() {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (uid == 0) {
        // System mode: QEMU runs as the swarm's QEMU user (shim/qemu_files.cpp).
        if (const passwd* pw = ::getpwnam(systemQemuUserName().c_str())) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        }
    }
    std::string label = "+" + std::to_string(uid) + ":+" + std::to_string(gid);
    return "    <secmodel>\n      <model>none</model>\n      <doi>0</doi>\n    </secmodel>\n"
           "    <secmodel>\n      <model>dac</model>\n      <doi>0</doi>\n"
           "      <baselabel type='kvm'>" +
           label + "</baselabel>\n      <baselabel type='qemu'>" + label +
           "</baselabel>\n    </secmodel>\n";
}

} // namespace virtswarm::hypervisor
