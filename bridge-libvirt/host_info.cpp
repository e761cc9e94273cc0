// SPDX-License-Identifier: LGPL-2.1-or-later
#include "host_info.hpp"

#include "virtswarm/domain_def.hpp"
#include "virtswarm/firmware.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <fstream>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

int32_t cpuMhz() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("cpu MHz", 0) == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos) {
                try {
                    return static_cast<int32_t>(std::stod(line.substr(colon + 1)));
                } catch (const std::exception&) {
                    return 0;
                }
            }
        }
    }
    return 0;
}

} // namespace

NodeInfo nodeInfo() {
    NodeInfo n;
    utsname u{};
    n.model = ::uname(&u) == 0 ? u.machine : "x86_64";
    struct sysinfo si {};
    if (::sysinfo(&si) == 0) {
        n.memoryKiB = static_cast<uint64_t>(si.totalram) * si.mem_unit / 1024;
    }
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    n.cpus = cpus > 0 ? static_cast<int32_t>(cpus) : 1;
    n.cores = n.cpus; // libvirt requires nodes * sockets * cores * threads == cpus
    n.mhz = cpuMhz();
    return n;
}

std::string hostName() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) {
        return "localhost";
    }
    return buf;
}

namespace {

// <os>: BIOS always; UEFI with the loaders QEMU's firmware descriptors offer for the
// machine type (what virt-install reads to decide how to boot a UEFI guest).
std::string osCapabilities(const std::string& machine) {
    DomainDef probe;
    probe.machine = machine;
    std::vector<std::string> loaders;
    bool secure = false, insecure = false;
    for (const auto& image : firmwareImages()) {
        probe.platform.firmware.secureBoot = image.secureBoot;
        if (auto fits = selectFirmware(probe, {image}); !fits) {
            continue;
        }
        if (std::find(loaders.begin(), loaders.end(), image.code) == loaders.end()) {
            loaders.push_back(image.code);
        }
        (image.requiresSmm ? secure : insecure) = true;
    }
    std::string x = "  <os supported='yes'>\n    <enum name='firmware'>\n";
    x += loaders.empty() ? "" : "      <value>efi</value>\n";
    x += "      <value>bios</value>\n    </enum>\n";
    if (loaders.empty()) {
        return x + "    <loader supported='no'/>\n  </os>\n";
    }
    x += "    <loader supported='yes'>\n";
    for (const auto& l : loaders) {
        x += "      <value>" + xml::escape(l) + "</value>\n";
    }
    x += "      <enum name='type'>\n        <value>rom</value>\n        <value>pflash</value>\n"
         "      </enum>\n";
    x += "      <enum name='readonly'>\n        <value>yes</value>\n      </enum>\n";
    x += "      <enum name='secure'>\n";
    x += insecure ? "        <value>no</value>\n" : "";
    x += secure ? "        <value>yes</value>\n" : "";
    x += "      </enum>\n    </loader>\n  </os>\n";
    return x;
}

} // namespace

std::string domainCapabilitiesXml(const std::string& emulator, const std::string& arch,
                                  const std::string& machine, const std::string& virtType) {
    std::string x;
    x += "<domainCapabilities>\n";
    x += "  <path>" + xml::escape(emulator.empty() ? kDefaultEmulator : emulator) + "</path>\n";
    x += "  <domain>" + xml::escape(virtType.empty() ? "qemu" : virtType) + "</domain>\n";
    x += "  <machine>" + xml::escape(machine.empty() ? "pc" : machine) + "</machine>\n";
    x += "  <arch>" + xml::escape(arch.empty() ? "x86_64" : arch) + "</arch>\n";
    x += "  <vcpu max='255'/>\n";
    x += "  <iothreads supported='no'/>\n";
    x += osCapabilities(machine);
    x += "  <cpu>\n";
    x += "    <mode name='host-passthrough' supported='yes'/>\n";
    x += "    <mode name='maximum' supported='yes'/>\n";
    // host-model runs the host's CPU: QEMU's "host" under KVM, its "max" under TCG (no host
    // CPU to model). Named as QEMU names it, which a custom <cpu> of that model also runs.
    // libvirt always names one; virt-install reads its fallback before choosing the mode.
    x += "    <mode name='host-model' supported='yes'>\n";
    x += std::string("      <model fallback='forbid'>") + (virtType == "kvm" ? "host" : "max") +
         "</model>\n";
    x += "    </mode>\n";
    x += "    <mode name='custom' supported='yes'/>\n";
    x += "  </cpu>\n";
    x += "  <memoryBacking supported='no'/>\n";
    x += "  <devices>\n";
    x += "    <disk supported='yes'>\n";
    x += "      <enum name='diskDevice'>\n";
    x += "        <value>disk</value>\n        <value>cdrom</value>\n";
    x += "        <value>floppy</value>\n";
    x += "      </enum>\n";
    x += "      <enum name='bus'>\n";
    x += "        <value>ide</value>\n        <value>sata</value>\n";
    x += "        <value>virtio</value>\n";
    x += "        <value>scsi</value>\n";
    x += "        <value>fdc</value>\n";
    x += "      </enum>\n";
    x += "      <enum name='model'/>\n";
    x += "    </disk>\n";
    x += "    <graphics supported='yes'>\n";
    x += "      <enum name='type'>\n        <value>vnc</value>\n        <value>spice</value>\n"
         "      </enum>\n";
    x += "    </graphics>\n";
    // docs/domain-devices.md: the tool devices the shim runs.
    x += "    <video supported='yes'>\n      <enum name='modelType'>\n";
    for (const char* model : {"vga", "qxl", "virtio", "bochs", "ramfb", "none"}) {
        x += std::string("        <value>") + model + "</value>\n";
    }
    x += "      </enum>\n    </video>\n";
    x += "    <hostdev supported='no'/>\n";
    x += "    <rng supported='yes'>\n"
         "      <enum name='model'>\n        <value>virtio</value>\n      </enum>\n"
         "      <enum name='backendModel'>\n        <value>random</value>\n      </enum>\n"
         "    </rng>\n";
    x += "    <filesystem supported='no'/>\n";
    x += "    <tpm supported='yes'>\n"
         "      <enum name='model'>\n        <value>tpm-tis</value>\n"
         "        <value>tpm-crb</value>\n      </enum>\n"
         "      <enum name='backendModel'>\n        <value>emulator</value>\n      </enum>\n"
         "      <enum name='backendVersion'>\n        <value>2.0</value>\n      </enum>\n"
         "    </tpm>\n";
    x += "    <redirdev supported='no'/>\n";
    x += "    <channel supported='yes'>\n      <enum name='type'>\n"
         "        <value>unix</value>\n"
         "        <value>spicevmc</value>\n      </enum>\n    </channel>\n";
    x += "    <crypto supported='no'/>\n";
    x += "  </devices>\n";
    x += "  <features>\n";
    x += "    <gic supported='no'/>\n";
    x += "    <vmcoreinfo supported='no'/>\n";
    x += "    <genid supported='no'/>\n";
    x += "    <backingStoreInput supported='no'/>\n";
    x += "    <backup supported='no'/>\n";
    x += "    <sev supported='no'/>\n";
    x += "  </features>\n";
    x += "</domainCapabilities>\n";
    return x;
}

} // namespace virtswarm::bridge
