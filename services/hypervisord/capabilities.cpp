// SPDX-License-Identifier: LGPL-2.1-or-later
#include "capabilities.hpp"

#include "host_cpu.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_def_canonical.hpp"
#include "virtswarm/domain_platform.hpp"
#include "virtswarm/qemu_user.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <sys/sysinfo.h>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

std::string hostUuid() {
    auto id = readFile("/etc/machine-id", 64);
    if (!id || id.value().size() < 32) {
        return "00000000-0000-0000-0000-000000000000";
    }
    auto parsed = parseUuid(id.value().substr(0, 32));
    return parsed ? formatUuid(parsed.value()) : "00000000-0000-0000-0000-000000000000";
}

// The machine types of the installed QEMU that virtswarm runs, as libvirt lists them:
// QEMU's default first, then its alias (canonical=), then the others in QEMU's order.
// virtinst (virt-manager, virt-install) refuses a domain whose machine type, after define
// the versioned pc-i440fx-7.2, is not listed, and picks the first one for a new domain.
// Until QEMU has answered, the two aliases.
std::string machinesXml() {
    const auto& known = machineAliases();
    if (!known || known->machines.empty()) {
        return "      <machine maxCpus='255'>pc</machine>\n"
               "      <machine maxCpus='288'>q35</machine>\n";
    }
    std::vector<std::string> order;
    auto add = [&](const std::string& name) {
        if (isSupportedMachine(name) &&
            std::find(order.begin(), order.end(), name) == order.end()) {
            order.push_back(name);
        }
    };
    add(known->defaultMachine);
    for (const auto& [alias, canonical] : known->canonical) {
        if (canonical == known->defaultMachine) {
            add(alias);
        }
    }
    for (const auto& name : known->machines) {
        add(name);
    }
    std::string x;
    for (const auto& name : order) {
        auto alias = known->canonical.find(name);
        const std::string& versioned = alias != known->canonical.end() ? alias->second : name;
        x += "      <machine";
        if (alias != known->canonical.end()) {
            x += " canonical='" + xml::escape(versioned) + "'";
        }
        x += " maxCpus='" + std::to_string(isQ35Machine(versioned) ? 288 : 255) + "'>" +
             xml::escape(name) + "</machine>\n";
    }
    return x;
}

// A kvm domain starts only if its QEMU may open /dev/kvm: a system swarm's QEMU runs as
// its own user (which a root registry's own access says nothing about), a session's as
// the session's user.
bool qemuMayUseKvm() {
    if (::geteuid() != 0) {
        return ::access("/dev/kvm", R_OK | W_OK) == 0;
    }
    return userMayReadWrite(systemQemuUserName(), "/dev/kvm");
}

} // namespace

std::string hostCapabilitiesXml() {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct sysinfo info {};
    sysinfo(&info);
    unsigned long long memKiB =
        static_cast<unsigned long long>(info.totalram) * info.mem_unit / 1024ULL;
    bool kvm = qemuMayUseKvm();

    std::string cpuList;
    for (long i = 0; i < cpus; ++i) {
        cpuList += "          <cpu id='" + std::to_string(i) + "' socket_id='0' core_id='" +
                   std::to_string(i) + "' siblings='" + std::to_string(i) + "'/>\n";
    }
    std::string x;
    x += "<capabilities>\n";
    x += "  <host>\n";
    x += "    <uuid>" + hostUuid() + "</uuid>\n";
    x += hostCpuXml();
    x += "    <power_management/>\n";
    x += "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n";
    x += "          <memory unit='KiB'>" + std::to_string(memKiB) + "</memory>\n";
    x += "          <cpus num='" + std::to_string(cpus) + "'>\n" + cpuList + "          </cpus>\n";
    x += "        </cell>\n      </cells>\n    </topology>\n";
    x += hostCacheXml();
    x += hostSecmodelXml();
    x += "  </host>\n";
    x += "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='x86_64'>\n";
    x += "      <wordsize>64</wordsize>\n";
    x += std::string("      <emulator>") + kDefaultEmulator + "</emulator>\n";
    x += machinesXml();
    x += "      <domain type='qemu'/>\n";
    if (kvm) {
        x += "      <domain type='kvm'/>\n";
    }
    x += "    </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n";
    x += "      <cpuselection/>\n      <deviceboot/>\n    </features>\n  </guest>\n";
    x += "</capabilities>\n";
    return x;
}

} // namespace virtswarm::hypervisor
