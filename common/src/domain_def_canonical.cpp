// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_def_canonical.hpp"

#include "virtswarm/domain_platform.hpp"

#include <algorithm>
#include <libxml/tree.h>
#include <map>
#include <set>
#include <sstream>

namespace virtswarm {
namespace {

std::optional<MachineAliases>& aliasesSlot() {
    static std::optional<MachineAliases> aliases;
    return aliases;
}

void setKiB(xml::Node node, uint64_t kib) {
    xml::setAttribute(node, "unit", "KiB");
    // The element's text is its only child: replace it.
    xmlNodeSetContent(node, reinterpret_cast<const xmlChar*>(std::to_string(kib).c_str()));
}

void canonicalMemory(xml::Node root, const DomainDef& def) {
    xml::Node memory = xml::firstChild(root, "memory");
    if (memory == nullptr) {
        return; // the parser refuses this; nothing to normalise
    }
    setKiB(memory, def.memoryKiB);
    xml::Node current = xml::firstChild(root, "currentMemory");
    if (current == nullptr) {
        current = xml::insertAfter(memory, "currentMemory");
    }
    setKiB(current, def.currentMemoryKiB);
    xml::Node vcpu = xml::firstChild(root, "vcpu");
    if (vcpu == nullptr) {
        vcpu = xml::insertAfter(current, "vcpu", std::to_string(def.vcpus));
    }
    if (!xml::attribute(vcpu, "placement")) {
        xml::setAttribute(vcpu, "placement", "static");
    }
}

void canonicalMachine(xml::Node root, DomainDef& def) {
    xml::Node os = xml::firstChild(root, "os");
    xml::Node type = os != nullptr ? xml::firstChild(os, "type") : nullptr;
    if (type == nullptr) {
        return;
    }
    xml::setAttribute(type, "arch", def.arch);
    const auto& aliases = machineAliases();
    std::string machine = def.machine;
    if (aliases) {
        if (machine.empty()) {
            machine = aliases->defaultMachine;
        }
        if (auto it = aliases->canonical.find(machine); it != aliases->canonical.end()) {
            machine = it->second;
        }
    }
    if (!machine.empty()) {
        xml::setAttribute(type, "machine", machine);
        def.machine = machine;
    }
}

// <target type='isa-serial' port='0'><model name='isa-serial'/></target>, libvirt's
// default target of the first x86 serial port.
void addIsaSerialTarget(xml::Node serial) {
    xml::Node target = xml::appendChild(serial, "target");
    xml::setAttribute(target, "type", "isa-serial");
    xml::setAttribute(target, "port", "0");
    xml::setAttribute(xml::appendChild(target, "model"), "name", "isa-serial");
}

// A new, unattached character device named `name` with the source of `device` (its type,
// <source>, <log>), without `device`'s target and alias.
xml::Node sameSourceAs(xml::Node device, const char* name) {
    xml::Node copy = xmlCopyNode(device, 1);
    xmlNodeSetName(copy, reinterpret_cast<const xmlChar*>(name));
    for (xml::Node child : xml::children(copy)) {
        if (xml::name(child) == "target" || xml::name(child) == "alias") {
            xml::removeNode(child);
        }
    }
    return copy;
}

// libvirt: a console with no serial port creates the port, and the console becomes an
// alias of it (<target type='serial' port='0'/>).
void serialForConsole(xml::Node devices) {
    auto consoles = xml::children(devices, "console");
    if (consoles.empty() || !xml::children(devices, "serial").empty()) {
        return;
    }
    xml::Node console = consoles.front();
    xml::Node serial = sameSourceAs(console, "serial");
    addIsaSerialTarget(serial);
    xmlAddPrevSibling(console, serial);
    if (xml::firstChild(console, "target") == nullptr) {
        xml::Node target = xml::appendChild(console, "target");
        xml::setAttribute(target, "type", "serial");
        xml::setAttribute(target, "port", "0");
    }
}

// libvirt, the other way round: the first serial port of a domain without a console is
// also its console (<console> sharing the port's source, <target type='serial' port='0'/>).
// Clients find the text console there (Cockpit lists only <console type='pty'>).
void consoleForSerial(xml::Node devices, DomainDef& def) {
    auto serials = xml::children(devices, "serial");
    if (serials.empty() || !xml::children(devices, "console").empty()) {
        return;
    }
    xml::Node console = sameSourceAs(serials.front(), "console");
    xml::Node target = xml::appendChild(console, "target");
    xml::setAttribute(target, "type", "serial");
    xml::setAttribute(target, "port", "0");
    xmlAddNextSibling(serials.back(), console);
    def.hasConsole = true;
}

bool hasInput(const DomainDef& def, const std::string& type, const std::string& bus) {
    return std::any_of(def.inputs.begin(), def.inputs.end(),
                       [&](const InputDef& in) { return in.type == type && in.bus == bus; });
}

// Every x86 PC has a PS/2 mouse and keyboard; libvirt lists them (QEMU needs no option).
// They go before the first device libvirt formats after inputs, so the order is libvirt's.
void defaultInputs(xml::Node devices, DomainDef& def) {
    static constexpr const char* kAfterInputs[] = {"graphics", "sound",    "audio",    "video",
                                                   "hostdev",  "redirdev", "watchdog", "memballoon",
                                                   "rng",      "tpm",      "panic"};
    xml::Node before = nullptr;
    for (xml::Node child : xml::children(devices)) {
        if (std::find_if(std::begin(kAfterInputs), std::end(kAfterInputs), [&](const char* n) {
                return xml::name(child) == n;
            }) != std::end(kAfterInputs)) {
            before = child;
            break;
        }
    }
    for (const char* type : {"mouse", "keyboard"}) {
        if (hasInput(def, type, "ps2")) {
            continue;
        }
        xml::Node input = xmlNewDocNode(devices->doc, nullptr,
                                        reinterpret_cast<const xmlChar*>("input"), nullptr);
        xml::setAttribute(input, "type", type);
        xml::setAttribute(input, "bus", "ps2");
        if (before != nullptr) {
            xmlAddPrevSibling(before, input);
        } else {
            xmlAddChild(devices, input);
        }
        def.inputs.push_back(InputDef{type, "ps2", {}});
    }
}

void defaultBalloon(xml::Node devices, DomainDef& def) {
    if (xml::firstChild(devices, "memballoon") != nullptr) {
        return;
    }
    xml::setAttribute(xml::appendChild(devices, "memballoon"), "model", "virtio");
    def.memballoon.model = "virtio";
}

// libvirt's form of a VNC or SPICE display: its port (-1 until QEMU takes one), autoport,
// and the listen address also as the <listen> child clients read (its address only once
// the domain runs, when it is not given).
void canonicalGraphics(xml::Node devices) {
    for (xml::Node graphics : xml::children(devices, "graphics")) {
        std::string type = xml::attribute(graphics, "type").value_or("");
        if (type != "vnc" && type != "spice") {
            continue;
        }
        if (!xml::attribute(graphics, "port")) {
            xml::setAttribute(graphics, "port", "-1");
        }
        if (!xml::attribute(graphics, "autoport")) {
            bool automatic = xml::attribute(graphics, "port").value_or("-1") == "-1";
            xml::setAttribute(graphics, "autoport", automatic ? "yes" : "no");
        }
        if (xml::firstChild(graphics, "listen") != nullptr) {
            continue;
        }
        xml::Node listen = xmlNewDocNode(graphics->doc, nullptr,
                                         reinterpret_cast<const xmlChar*>("listen"), nullptr);
        xml::setAttribute(listen, "type", "address");
        if (auto address = xml::attribute(graphics, "listen")) {
            xml::setAttribute(listen, "address", *address);
        }
        // libvirt formats <listen> before the display's other children.
        if (graphics->children != nullptr) {
            xmlAddPrevSibling(graphics->children, listen);
        } else {
            xmlAddChild(graphics, listen);
        }
    }
}

// Ports of USB bus 0 as libvirt counts them: the controller's ports='N', else its
// model's (UHCI 2, EHCI 6, xHCI 4; with no model or no controller, the machine's default:
// qemu-xhci on q35, piix3-uhci otherwise); 0 when the bus is absent (model='none').
uint32_t usbBusPorts(const DomainDef& def) {
    static const std::map<std::string, uint32_t> kByModel = {
        {"piix3-uhci", 2}, {"piix4-uhci", 2}, {"ich9-uhci1", 2}, {"ich9-uhci2", 2},
        {"ich9-uhci3", 2}, {"ich9-ehci1", 6}, {"qemu-xhci", 4},  {"nec-xhci", 4}};
    for (const auto& c : def.controllers) {
        if (c.type != "usb" || c.index != 0) {
            continue;
        }
        if (c.model == "none") {
            return 0;
        }
        if (c.usbPorts) {
            return *c.usbPorts;
        }
        if (auto it = kByModel.find(c.model); it != kByModel.end()) {
            return it->second;
        }
        break;
    }
    return isQ35Machine(def.machine) ? 4 : 2;
}

// libvirt gives every USB device without an <address> the next free port of bus 0, in
// the order of the definition, and shows it (<address type='usb' bus='0' port='N'/>), so
// the guest sees the same ports on every boot. Cockpit reads the address of each
// <redirdev>. Devices beyond the bus's ports keep no address (QEMU then fails to start
// them, as libvirt refuses them).
// The USB devices of the definition (USB <input>s, <redirdev>s), in document order, each
// with the address its parsed form holds.
std::vector<std::pair<xml::Node, DeviceAddress*>> usbDevices(xml::Node devices, DomainDef& def) {
    std::vector<DeviceAddress*> inputs;
    for (auto& in : def.inputs) {
        if (in.bus == "usb") {
            inputs.push_back(&in.address);
        }
    }
    size_t input = 0;
    size_t redirdev = 0;
    std::vector<std::pair<xml::Node, DeviceAddress*>> out;
    for (xml::Node dev : xml::children(devices)) {
        std::string_view n = xml::name(dev);
        if (n == "input" && xml::attribute(dev, "bus").value_or("") == "usb" &&
            input < inputs.size()) {
            out.emplace_back(dev, inputs[input++]);
        } else if (n == "redirdev" && redirdev < def.tools.redirdevs.size()) {
            out.emplace_back(dev, &def.tools.redirdevs[redirdev++].address);
        }
    }
    return out;
}

void assignUsbPorts(xml::Node devices, DomainDef& def) {
    auto usb = usbDevices(devices, def);
    std::set<std::string> taken;
    for (const auto& [dev, address] : usb) {
        if (const auto* given = std::get_if<UsbAddress>(address); given && given->bus == 0) {
            taken.insert(given->port);
        }
    }
    uint32_t ports = usbBusPorts(def);
    uint32_t next = 1;
    for (auto& [dev, address] : usb) {
        if (!std::holds_alternative<std::monostate>(*address)) {
            continue;
        }
        while (next <= ports && taken.count(std::to_string(next)) != 0) {
            ++next;
        }
        if (next > ports) {
            return;
        }
        std::string port = std::to_string(next++);
        xml::Node node = xml::appendChild(dev, "address");
        xml::setAttribute(node, "type", "usb");
        xml::setAttribute(node, "bus", "0");
        xml::setAttribute(node, "port", port);
        *address = UsbAddress{0, port};
    }
}

} // namespace

MachineAliases parseMachineHelp(std::string_view output) {
    MachineAliases out;
    std::istringstream lines{std::string(output)};
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string name;
        words >> name;
        if (name.empty() || name == "Supported") {
            continue;
        }
        out.machines.push_back(name);
        if (auto at = line.find("(alias of "); at != std::string::npos) {
            auto start = at + 10;
            auto end = line.find(')', start);
            if (end != std::string::npos && end > start) {
                out.canonical[name] = line.substr(start, end - start);
            }
        }
        if (line.find("(default)") != std::string::npos) {
            out.defaultMachine = name;
        }
    }
    return out;
}

void setMachineAliases(std::optional<MachineAliases> aliases) {
    aliasesSlot() = std::move(aliases);
}

const std::optional<MachineAliases>& machineAliases() {
    return aliasesSlot();
}

// libvirt (qemuDomainDefSetDefaultCPU) writes the CPU model QEMU would pick for the
// machine into a definition that names none: qemu64 for x86_64's pc and q35. Clients read
// it (Cockpit shows the CPU type from it).
void defaultCpu(xml::Node root, DomainDef& def) {
    if (xml::firstChild(root, "cpu") != nullptr || def.arch != "x86_64") {
        return;
    }
    xml::Node cpu =
        xmlNewDocNode(root->doc, nullptr, reinterpret_cast<const xmlChar*>("cpu"), nullptr);
    xml::Node before = nullptr;
    for (const char* next : {"clock", "on_poweroff", "on_reboot", "on_crash", "pm", "devices"}) {
        if ((before = xml::firstChild(root, next)) != nullptr) {
            break;
        }
    }
    if (before != nullptr) {
        xmlAddPrevSibling(before, cpu);
    } else {
        xmlAddChild(root, cpu);
    }
    xml::setAttribute(cpu, "mode", "custom");
    xml::setAttribute(cpu, "match", "exact");
    xml::setAttribute(cpu, "check", "none");
    xml::setAttribute(xml::appendChild(cpu, "model", "qemu64"), "fallback", "forbid");
    def.platform.cpu.mode = "custom";
    def.platform.cpu.model = "qemu64";
}

void canonicalizeDomain(xml::Node root, DomainDef& def) {
    canonicalMemory(root, def);
    canonicalMachine(root, def);
    defaultCpu(root, def);
    xml::Node devices = xml::firstChild(root, "devices");
    if (devices == nullptr) {
        devices = xml::appendChild(root, "devices");
    }
    serialForConsole(devices);
    consoleForSerial(devices, def);
    defaultInputs(devices, def);
    defaultBalloon(devices, def);
    canonicalGraphics(devices);
    assignUsbPorts(devices, def);
}

} // namespace virtswarm
