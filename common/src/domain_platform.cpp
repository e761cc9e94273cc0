// SPDX-License-Identifier: LGPL-2.1-or-later
// The machine type, firmware, <cpu>, <features>, <clock>, <pm> and on_* actions.
#include "domain_platform_parse.hpp"
#include "parse_util.hpp"

#include <map>

namespace virtswarm {

bool isQ35Machine(const std::string& machine) {
    return machine == "q35" || machine.rfind("pc-q35-", 0) == 0;
}

bool isSupportedMachine(const std::string& machine) {
    return machine == "pc" || machine.rfind("pc-i440fx-", 0) == 0 || isQ35Machine(machine);
}

namespace detail {
namespace {

// state='on|off' (libvirt's virTristateSwitch); absent means on for a present element.
Result<bool> stateOf(xml::Node node, const std::string& what) {
    std::string state = xml::attribute(node, "state").value_or("on");
    if (state != "on" && state != "off") {
        return invalidXml("<" + what + " state='" + state + "'> must be 'on' or 'off'");
    }
    return state == "on";
}

Result<bool> yesNo(xml::Node node, const char* attr, const std::string& what) {
    std::string v = xml::attribute(node, attr).value_or("yes");
    if (v != "yes" && v != "no") {
        return invalidXml("<" + what + " " + attr + "='" + v + "'> must be 'yes' or 'no'");
    }
    return v == "yes";
}

Result<void> parseFirmware(xml::Node os, FirmwareDef& fw) {
    std::string firmware = xml::attribute(os, "firmware").value_or("");
    if (!firmware.empty() && !oneOf(firmware, {"efi", "bios"})) {
        return notSupported("<os firmware='" + firmware + "'> is not supported (efi, bios)");
    }
    fw.efi = firmware == "efi";
    fw.autoSelect = fw.efi;
    // <firmware><feature enabled='yes' name='secure-boot'/></firmware>: the wish for
    // auto-selection.
    if (auto wishes = xml::firstChild(os, "firmware")) {
        for (xml::Node f : xml::children(wishes, "feature")) {
            std::string name = xml::attribute(f, "name").value_or("");
            auto enabled = yesNo(f, "enabled", "firmware feature");
            if (!enabled) {
                return enabled.takeError();
            }
            if (name == "secure-boot") {
                fw.secureBoot = enabled.value();
            } else if (name != "enrolled-keys") {
                return notSupported("<firmware><feature name='" + name + "'> is not supported");
            }
        }
    }
    if (auto loader = xml::firstChild(os, "loader")) {
        fw.loader = xml::text(loader);
        fw.loaderType = xml::attribute(loader, "type").value_or(fw.efi ? "pflash" : "rom");
        if (!oneOf(fw.loaderType, {"rom", "pflash"})) {
            return notSupported("<loader type='" + fw.loaderType +
                                "'> is not supported (rom, pflash)");
        }
        if (fw.loaderType == "pflash") {
            fw.efi = true;
            fw.autoSelect = fw.autoSelect && fw.loader.empty();
        }
        if (xml::attribute(loader, "readonly").value_or("yes") != "yes" &&
            fw.loaderType == "pflash") {
            return notSupported("<loader readonly='no'> is not supported: the firmware code "
                                "is shared by every VM");
        }
        if (auto secure = xml::attribute(loader, "secure")) {
            if (!oneOf(*secure, {"yes", "no"})) {
                return invalidXml("<loader secure='" + *secure + "'> must be 'yes' or 'no'");
            }
            fw.secureBoot = *secure == "yes";
        }
        if (!fw.loader.empty() && fw.loader[0] != '/') {
            return invalidXml("<loader> must be an absolute path");
        }
    }
    if (auto nvram = xml::firstChild(os, "nvram")) {
        fw.nvram = xml::text(nvram);
        fw.nvramTemplate = xml::attribute(nvram, "template").value_or("");
        for (const auto* p : {&fw.nvram, &fw.nvramTemplate}) {
            if (!p->empty() && (*p)[0] != '/') {
                return invalidXml("<nvram> paths must be absolute");
            }
        }
        if (!fw.efi) {
            return invalidXml("<nvram> needs UEFI firmware (<os firmware='efi'> or a pflash "
                              "<loader>)");
        }
    }
    return success();
}

Result<void> parseCpu(xml::Node cpu, CpuDef& def) {
    def.mode = xml::attribute(cpu, "mode").value_or("custom");
    if (!oneOf(def.mode, {"host-passthrough", "host-model", "maximum", "custom"})) {
        return notSupported("<cpu mode='" + def.mode + "'> is not supported");
    }
    if (def.mode == "custom") {
        auto model = xml::firstChild(cpu, "model");
        def.model = model ? xml::text(model) : "";
        // <cpu><topology .../></cpu> alone (no model) keeps QEMU's default model.
        if (def.model.empty()) {
            def.mode.clear();
        }
    }
    for (xml::Node f : xml::children(cpu, "feature")) {
        std::string name = xml::attribute(f, "name").value_or("");
        std::string policy = xml::attribute(f, "policy").value_or("require");
        if (name.empty()) {
            return invalidXml("<cpu><feature> needs a name");
        }
        if (!oneOf(policy, {"require", "force", "disable", "forbid", "optional"})) {
            return invalidXml("<cpu><feature policy='" + policy + "'> is not a policy");
        }
        def.features.emplace_back(name, policy != "disable" && policy != "forbid");
    }
    if (auto topology = xml::firstChild(cpu, "topology")) {
        // The vCPU count comes from <vcpu>; a topology that splits it differently
        // would change what the guest sees: refuse rather than ignore it.
        for (const char* a : {"dies", "cores", "threads"}) {
            std::string v = xml::attribute(topology, a).value_or("1");
            if (v != "1") {
                return notSupported(std::string("<cpu><topology ") + a + "='" + v +
                                    "'> is not supported (one core, one thread per socket)");
            }
        }
    }
    return success();
}

// libvirt's hyperv feature name -> QEMU's CPU property.
Result<void> parseHyperv(xml::Node hyperv, HypervDef& def) {
    std::string mode = xml::attribute(hyperv, "mode").value_or("custom");
    if (mode == "passthrough") {
        def.flags.emplace_back("hv-passthrough", "on");
        return success();
    }
    static const std::map<std::string, std::string> kSimple = {
        {"relaxed", "hv-relaxed"},
        {"vapic", "hv-vapic"},
        {"vpindex", "hv-vpindex"},
        {"runtime", "hv-runtime"},
        {"synic", "hv-synic"},
        {"stimer", "hv-stimer"},
        {"reset", "hv-reset"},
        {"frequencies", "hv-frequencies"},
        {"reenlightenment", "hv-reenlightenment"},
        {"tlbflush", "hv-tlbflush"},
        {"ipi", "hv-ipi"},
        {"evmcs", "hv-evmcs"},
        {"avic", "hv-avic"},
    };
    for (xml::Node f : xml::children(hyperv)) {
        std::string name(xml::name(f));
        auto on = stateOf(f, "hyperv><" + name);
        if (!on) {
            return on.takeError();
        }
        if (!on.value()) {
            continue; // off is QEMU's default for every enlightenment
        }
        if (auto it = kSimple.find(name); it != kSimple.end()) {
            def.flags.emplace_back(it->second, "on");
            if (name == "stimer" && xml::firstChild(f, "direct") != nullptr) {
                def.flags.emplace_back("hv-stimer-direct", "on");
            }
        } else if (name == "spinlocks") {
            auto retries = parseUnsigned(xml::attribute(f, "retries").value_or("4095"));
            if (!retries || *retries < 4095 || *retries > 0xffffffff) {
                return invalidXml("<hyperv><spinlocks retries=...> must be at least 4095");
            }
            def.flags.emplace_back("hv-spinlocks", std::to_string(*retries));
        } else if (name == "vendor_id") {
            std::string value = xml::attribute(f, "value").value_or("");
            if (value.empty() || value.size() > 12 || value.find(',') != std::string::npos) {
                return invalidXml("<hyperv><vendor_id value=...> must be 1 to 12 characters");
            }
            def.flags.emplace_back("hv-vendor-id", value);
        } else {
            return notSupported("<hyperv><" + name + "> is not supported");
        }
    }
    return success();
}

Result<void> parseFeatures(xml::Node features, DomainDef& def) {
    PlatformDef& p = def.platform;
    for (xml::Node f : xml::children(features)) {
        std::string name(xml::name(f));
        if (name == "acpi") {
            def.acpi = true;
        } else if (name == "apic" || name == "pae") {
            // Always there on an x86_64 CPU; QEMU has no switch to remove them.
        } else if (name == "vmport" || name == "smm") {
            auto on = stateOf(f, name);
            if (!on) {
                return on.takeError();
            }
            (name == "vmport" ? p.vmport : p.smm) = on.value();
        } else if (name == "ioapic") {
            // driver='qemu' (a split irqchip) or 'kvm' (in-kernel): only KVM has the
            // choice; under TCG the I/O APIC is always QEMU's own.
            std::string driver = xml::attribute(f, "driver").value_or("");
            if (!oneOf(driver, {"", "qemu", "kvm"})) {
                return notSupported("<ioapic driver='" + driver + "'> is not supported");
            }
            if (def.virtType == "kvm" && driver == "qemu") {
                return notSupported("<ioapic driver='qemu'> (a split irqchip) is not "
                                    "supported");
            }
        } else if (name == "hyperv") {
            if (auto r = parseHyperv(f, p.hyperv); !r) {
                return r.takeError();
            }
        } else if (name == "vmcoreinfo") {
            auto on = stateOf(f, name);
            if (on && on.value()) {
                return notSupported("<features><vmcoreinfo> is not supported");
            }
        } else {
            return notSupported("<features><" + name + "> is not supported");
        }
    }
    return success();
}

Result<void> parseClock(xml::Node clock, PlatformDef& p) {
    p.clockOffset = xml::attribute(clock, "offset").value_or("utc");
    if (!oneOf(p.clockOffset, {"utc", "localtime"})) {
        return notSupported("<clock offset='" + p.clockOffset +
                            "'> is not supported (utc, localtime)");
    }
    for (xml::Node t : xml::children(clock, "timer")) {
        std::string name = xml::attribute(t, "name").value_or("");
        std::string tickpolicy = xml::attribute(t, "tickpolicy").value_or("");
        auto present = yesNo(t, "present", "timer");
        if (!present) {
            return present.takeError();
        }
        auto refuse = [&] {
            return notSupported("<timer name='" + name + "' tickpolicy='" + tickpolicy +
                                "'> is not supported");
        };
        if (name == "rtc") {
            if (!oneOf(tickpolicy, {"", "catchup", "delay"})) {
                return refuse();
            }
            p.rtcCatchup = tickpolicy == "catchup";
        } else if (name == "pit") {
            if (!oneOf(tickpolicy, {"", "delay"})) {
                return refuse();
            }
            p.pitDelay = tickpolicy == "delay";
        } else if (name == "hpet") {
            p.hpet = present.value();
        } else if (name == "hypervclock") {
            p.hypervClock = present.value();
        } else if (name == "kvmclock" || name == "tsc") {
            // Only meaningful with KVM, where QEMU sets them up itself by default.
            if (!present.value()) {
                return notSupported("<timer name='" + name + "' present='no'> is not supported");
            }
        } else {
            return notSupported("<timer name='" + name + "'> is not supported");
        }
    }
    return success();
}

Result<void> parsePm(xml::Node pm, PlatformDef& p) {
    for (xml::Node s : xml::children(pm)) {
        std::string name(xml::name(s));
        auto enabled = yesNo(s, "enabled", name);
        if (!enabled) {
            return enabled.takeError();
        }
        if (name == "suspend-to-mem") {
            p.suspendToMem = enabled.value();
        } else if (name == "suspend-to-disk") {
            p.suspendToDisk = enabled.value();
        } else {
            return notSupported("<pm><" + name + "> is not supported");
        }
    }
    return success();
}

Result<void> parseLifecycleActions(xml::Node root, PlatformDef& p) {
    struct Action {
        const char* element;
        std::string* value;
        std::initializer_list<const char*> allowed;
    };
    // QEMU has no way to keep a powered-off or rebooting guest as it is: preserve is for
    // crashes only, as in libvirt's QEMU driver.
    const Action actions[] = {
        {"on_poweroff", &p.onPoweroff, {"destroy", "restart"}},
        {"on_reboot", &p.onReboot, {"destroy", "restart"}},
        {"on_crash", &p.onCrash, {"destroy", "restart", "preserve"}},
    };
    for (const auto& a : actions) {
        auto node = xml::firstChild(root, a.element);
        if (node == nullptr) {
            continue;
        }
        std::string v = xml::text(node);
        bool allowed =
            std::any_of(a.allowed.begin(), a.allowed.end(), [&](const char* x) { return v == x; });
        if (!allowed) {
            return notSupported(std::string("<") + a.element + ">" + v + "</" + a.element +
                                "> is not supported");
        }
        *a.value = v;
    }
    return success();
}

} // namespace

Result<void> parsePlatform(xml::Node root, DomainDef& def) {
    if (!def.machine.empty() && !isSupportedMachine(def.machine)) {
        return notSupported("machine type '" + def.machine +
                            "' is not supported (pc, q35, pc-i440fx-*, pc-q35-*)");
    }
    if (auto os = xml::firstChild(root, "os")) {
        if (auto r = parseFirmware(os, def.platform.firmware); !r) {
            return r.takeError();
        }
    }
    if (auto cpu = xml::firstChild(root, "cpu")) {
        if (auto r = parseCpu(cpu, def.platform.cpu); !r) {
            return r.takeError();
        }
    }
    if (auto features = xml::firstChild(root, "features")) {
        if (auto r = parseFeatures(features, def); !r) {
            return r.takeError();
        }
    }
    if (auto clock = xml::firstChild(root, "clock")) {
        if (auto r = parseClock(clock, def.platform); !r) {
            return r.takeError();
        }
    }
    if (auto pm = xml::firstChild(root, "pm")) {
        if (auto r = parsePm(pm, def.platform); !r) {
            return r.takeError();
        }
    }
    const FirmwareDef& fw = def.platform.firmware;
    if (fw.secureBoot.value_or(false)) {
        if (!isQ35Machine(def.machine)) {
            return notSupported("secure boot needs the q35 machine type (SMM)");
        }
        if (def.platform.smm == false) {
            return invalidXml("secure boot needs SMM: <smm state='off'> contradicts it");
        }
    }
    return parseLifecycleActions(root, def.platform);
}

} // namespace detail
} // namespace virtswarm
