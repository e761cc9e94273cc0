// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_controllers.hpp"

#include "qemu_ids.hpp"

#include <algorithm>
#include <set>

namespace virtswarm::shim {
namespace {

bool hasController(const DomainDef& def, const std::string& type, uint32_t index) {
    return std::any_of(def.controllers.begin(), def.controllers.end(),
                       [&](const auto& c) { return c.type == type && c.index == index; });
}

// libvirt's default models when the XML names none.
std::string usbModel(const ControllerDef& c, bool q35) {
    if (!c.model.empty()) {
        return c.model;
    }
    return q35 ? "qemu-xhci" : "piix3-uhci";
}

std::string pciControllerDevice(const ControllerDef& c, bool q35) {
    std::string id = qemuPciBusId(c.index, q35);
    std::string dev = c.modelName + ",";
    if (c.model == "pcie-root-port") {
        // Without an explicit chassis every port would be chassis 0 slot 0: QEMU refuses
        // duplicates, libvirt numbers chassis by index.
        dev += "port=" + std::to_string(c.port.value_or(0)) +
               ",chassis=" + std::to_string(c.chassis.value_or(c.index)) + ",";
    } else if (c.model == "pci-bridge") {
        dev += "chassis_nr=" + std::to_string(c.chassis.value_or(c.index)) + ",";
    }
    return dev + "id=" + id + qemuPciAddressSuffix(c.address, q35);
}

std::string usbControllerDevice(const ControllerDef& c, bool q35) {
    std::string model = usbModel(c, q35);
    std::string id = qemuControllerId("usb", c.index, q35);
    std::string address = qemuPciAddressSuffix(c.address, q35);
    if (model == "qemu-xhci" || model == "nec-xhci") {
        std::string dev = model == "qemu-xhci" ? "qemu-xhci" : "nec-usb-xhci";
        if (c.usbPorts) {
            std::string n = std::to_string(*c.usbPorts);
            dev += ",p2=" + n + ",p3=" + n;
        }
        return dev + ",id=" + id + address;
    }
    if (model == "piix3-uhci") {
        return "piix3-usb-uhci,id=" + id + address;
    }
    if (model == "ich9-ehci1") {
        return "ich9-usb-ehci1,id=" + id + address;
    }
    // ich9-uhci1..3: the EHCI's USB 1 companions, on its bus.
    return "ich9-usb-" + model.substr(5) + ",masterbus=" + id +
           ".0,firstport=" + std::to_string(c.masterStartPort.value_or(0)) + address;
}

std::string otherControllerDevice(const ControllerDef& c, bool q35) {
    std::string id = qemuControllerId(c.type, c.index, q35);
    std::string address = qemuPciAddressSuffix(c.address, q35);
    if (c.type == "scsi") {
        return std::string(c.model == "virtio-scsi" ? "virtio-scsi-pci" : "lsi53c895a") +
               ",id=" + id + address;
    }
    if (c.type == "sata") {
        return "ich9-ahci,id=" + id + address;
    }
    return "virtio-serial-pci,id=" + id + address; // virtio-serial
}

// Controllers QEMU's machine already has: no -device.
bool isBuiltIn(const ControllerDef& c, bool q35) {
    // The floppy controller: pc has one; q35 gets an isa-fdc only when a floppy needs it.
    return (c.type == "pci" && c.index == 0) || c.type == "ide" || c.type == "fdc" ||
           (c.type == "sata" && c.index == 0 && q35) || (c.type == "usb" && c.model == "none");
}

std::string inputDevice(const InputDef& in, size_t n, bool q35) {
    std::string id = qemu_id::input(n);
    if (in.bus == "virtio") {
        return "virtio-" + in.type + "-pci,id=" + id + qemuPciAddressSuffix(in.address, q35);
    }
    static const char* const kUsb[][2] = {
        {"tablet", "usb-tablet"}, {"keyboard", "usb-kbd"}, {"mouse", "usb-mouse"}};
    std::string dev;
    for (const auto& [type, qemu] : kUsb) {
        if (in.type == type) {
            dev = qemu;
        }
    }
    dev += ",id=" + id;
    if (const auto* usb = std::get_if<UsbAddress>(&in.address)) {
        dev += ",bus=" + qemuControllerId("usb", usb->bus, q35) + ".0";
        if (!usb->port.empty()) {
            dev += ",port=" + usb->port;
        }
    } else {
        dev += ",bus=usb.0";
    }
    return dev;
}

} // namespace

std::string qemuControllerId(const std::string& type, uint32_t index, bool q35) {
    if (type == "pci") {
        return qemuPciBusId(index, q35);
    }
    if (type == "usb") {
        return index == 0 ? "usb" : "usb" + std::to_string(index);
    }
    if (type == "sata" && index == 0 && q35) {
        return "ide";
    }
    return type + std::to_string(index);
}

std::string scsiControllerModel(const DomainDef& def, uint32_t index) {
    for (const auto& c : def.controllers) {
        if (c.type == "scsi" && c.index == index) {
            return c.model.empty() ? "lsilogic" : c.model;
        }
    }
    return "lsilogic"; // an implicit controller: libvirt's default on x86
}

void addControllers(const DomainDef& def, std::vector<std::string>& argv) {
    bool q35 = isQ35Machine(def.machine);
    std::vector<const ControllerDef*> pci;
    for (const auto& c : def.controllers) {
        if (c.type == "pci" && !isBuiltIn(c, q35)) {
            pci.push_back(&c);
        }
    }
    std::sort(pci.begin(), pci.end(), [](auto* a, auto* b) { return a->index < b->index; });
    for (const auto* c : pci) {
        argv.insert(argv.end(), {"-device", pciControllerDevice(*c, q35)});
    }
    for (const auto& c : def.controllers) {
        if (c.type == "pci" || isBuiltIn(c, q35)) {
            continue;
        }
        argv.insert(argv.end(), {"-device", c.type == "usb" ? usbControllerDevice(c, q35)
                                                            : otherControllerDevice(c, q35)});
    }
    // What libvirt's define would have added for the devices that need a controller.
    std::set<std::pair<std::string, uint32_t>> implicit;
    for (const auto& disk : def.disks) {
        if (disk.bus != "scsi" && disk.bus != "sata") {
            continue;
        }
        const auto* drive = std::get_if<DriveAddress>(&disk.address);
        uint32_t index = drive != nullptr ? drive->controller : 0;
        if (!hasController(def, disk.bus, index) && !(disk.bus == "sata" && q35 && index == 0)) {
            implicit.emplace(disk.bus, index);
        }
    }
    for (const auto& [type, index] : implicit) {
        ControllerDef c;
        c.type = type;
        c.index = index;
        argv.insert(argv.end(), {"-device", otherControllerDevice(c, q35)});
    }
    bool floppy = std::any_of(def.disks.begin(), def.disks.end(),
                              [](const DiskDef& disk) { return disk.bus == "fdc"; });
    if (floppy && q35) {
        argv.insert(argv.end(), {"-device", "isa-fdc,id=" + qemuControllerId("fdc", 0, q35)});
    }
    bool usbInput = std::any_of(def.inputs.begin(), def.inputs.end(),
                                [](const InputDef& in) { return in.bus == "usb"; });
    if (usbInput && !hasController(def, "usb", 0)) {
        ControllerDef c;
        c.type = "usb";
        argv.insert(argv.end(), {"-device", usbControllerDevice(c, q35)});
    }
}

void addInputsAndBalloon(const DomainDef& def, std::vector<std::string>& argv) {
    bool q35 = isQ35Machine(def.machine);
    for (size_t i = 0; i < def.inputs.size(); ++i) {
        if (def.inputs[i].bus != "ps2") {
            argv.insert(argv.end(), {"-device", inputDevice(def.inputs[i], i, q35)});
        }
    }
    if (def.memballoon.model == "virtio") {
        argv.insert(argv.end(), {"-device", "virtio-balloon-pci,id=" + qemu_id::balloon() +
                                                qemuPciAddressSuffix(def.memballoon.address, q35)});
    }
}

} // namespace virtswarm::shim
