// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_platform.hpp"

#include "virtswarm/log.hpp"

namespace virtswarm::shim {
namespace {

std::string onOff(bool v) {
    return v ? "on" : "off";
}

// The CPU model and properties. Under TCG there is no host CPU to pass through: "max"
// is everything TCG emulates, libvirt's own choice for host-passthrough and maximum.
std::string cpuOption(const DomainDef& def) {
    const CpuDef& cpu = def.platform.cpu;
    bool kvm = def.virtType == "kvm";
    std::string model;
    if (cpu.mode == "host-passthrough" || cpu.mode == "host-model") {
        model = kvm ? "host" : "max";
    } else if (cpu.mode == "maximum") {
        model = "max";
    } else if (cpu.mode == "custom") {
        model = cpu.model;
    } else {
        model = kvm ? "host" : "";
    }
    std::string props;
    for (const auto& [name, enabled] : cpu.features) {
        props += std::string(",") + (enabled ? "+" : "-") + name;
    }
    for (const auto& [flag, value] : def.platform.hyperv.flags) {
        // KVM's in-kernel Hyper-V emulation sets the VP index; TCG has none, and QEMU
        // refuses hv-vpindex there. Windows runs without it (it only loses the
        // synthetic IPIs and timers that use it).
        if (!kvm && flag == "hv-vpindex") {
            log::info("hyperv vpindex needs KVM: not given to QEMU under TCG");
            continue;
        }
        props += "," + flag + "=" + value;
    }
    if (def.platform.hypervClock) {
        props += ",hv-time=on";
    }
    if (props.empty() && model.empty()) {
        return {};
    }
    // Properties need a model to hang on: QEMU's default for x86_64 is qemu64.
    return (model.empty() ? "qemu64" : model) + props;
}

void addFirmware(const DomainDef& def, const QemuLaunch& launch, std::vector<std::string>& argv) {
    const FirmwareDef& fw = def.platform.firmware;
    if (!fw.efi) {
        if (!fw.loader.empty()) {
            argv.insert(argv.end(), {"-bios", fw.loader});
        }
        return;
    }
    argv.insert(argv.end(),
                {"-drive", "if=pflash,format=raw,unit=0,file=" +
                               qemuEscapeCommas(qemuFilePath(launch, fw.loader)) + ",readonly=on"});
    argv.insert(argv.end(), {"-drive", "if=pflash,format=raw,unit=1,file=" +
                                           qemuEscapeCommas(qemuFilePath(launch, fw.nvram))});
    if (fw.secureBoot.value_or(false)) {
        // Only SMM code may write the flash: what makes secure boot's variables safe.
        argv.insert(argv.end(), {"-global", "driver=cfi.pflash01,property=secure,value=on"});
    }
}

} // namespace

std::string qemuMachineOption(const DomainDef& def) {
    const PlatformDef& p = def.platform;
    std::string machine = def.machine.empty() ? "pc" : def.machine;
    if (!def.acpi) {
        machine += ",acpi=off";
    }
    if (p.vmport) {
        machine += ",vmport=" + onOff(*p.vmport);
    }
    if (p.smm) {
        machine += ",smm=" + onOff(*p.smm);
    }
    if (p.hpet) {
        machine += ",hpet=" + onOff(*p.hpet);
    }
    return machine;
}

void addPlatformArgs(const DomainDef& def, const QemuLaunch& launch,
                     std::vector<std::string>& argv) {
    const PlatformDef& p = def.platform;
    if (std::string cpu = cpuOption(def); !cpu.empty()) {
        argv.insert(argv.end(), {"-cpu", cpu});
    }
    std::string rtc = "base=" + p.clockOffset;
    if (p.rtcCatchup) {
        rtc += ",driftfix=slew";
    }
    argv.insert(argv.end(), {"-rtc", rtc});
    if (p.pitDelay && def.virtType == "kvm") {
        // Under TCG the PIT is QEMU's own and always delays lost ticks.
        argv.insert(argv.end(), {"-global", "kvm-pit.lost_tick_policy=delay"});
    }
    const char* pm = isQ35Machine(def.machine) ? "ICH9-LPC" : "PIIX4_PM";
    if (p.suspendToMem) {
        argv.insert(argv.end(),
                    {"-global", std::string(pm) + ".disable_s3=" + (*p.suspendToMem ? "0" : "1")});
    }
    if (p.suspendToDisk) {
        argv.insert(argv.end(),
                    {"-global", std::string(pm) + ".disable_s4=" + (*p.suspendToDisk ? "0" : "1")});
    }
    addFirmware(def, launch, argv);
    if (p.onReboot == "destroy") {
        // A guest reboot then arrives as SHUTDOWN (reason guest-reset): the shim ends it.
        argv.push_back("-no-reboot");
    }
    // A guest panic pauses it; the shim carries out <on_crash>.
    argv.insert(argv.end(), {"-action", "panic=pause"});
}

} // namespace virtswarm::shim
