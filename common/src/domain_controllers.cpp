// SPDX-License-Identifier: LGPL-2.1-or-later
// <controller>, <input> and <memballoon>: what libvirt tools add to every domain.
#include "domain_platform_parse.hpp"
#include "parse_util.hpp"

#include <set>

namespace virtswarm::detail {
namespace {

Result<std::optional<uint32_t>> optionalNumber(xml::Node node, const char* attr,
                                               const std::string& what, uint64_t max) {
    auto text = xml::attribute(node, attr);
    if (!text) {
        return std::optional<uint32_t>{};
    }
    auto v = parseUnsigned(*text);
    if (!v || *v > max) {
        return invalidXml("<" + what + " " + attr + "='" + *text + "'> is not a number from 0 to " +
                          std::to_string(max));
    }
    return std::optional<uint32_t>(static_cast<uint32_t>(*v));
}

// The models virtswarm runs, per controller type. An empty model is libvirt's default
// for the type, chosen at argv time (it depends on the machine type).
bool knownModel(const std::string& type, const std::string& model) {
    if (type == "pci") {
        return oneOf(model, {"pci-root", "pcie-root", "pcie-root-port", "pcie-to-pci-bridge",
                             "pci-bridge", "dmi-to-pci-bridge"});
    }
    if (type == "usb") {
        return oneOf(model, {"", "qemu-xhci", "nec-xhci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2",
                             "ich9-uhci3", "piix3-uhci", "none"});
    }
    if (type == "scsi") {
        return oneOf(model, {"", "virtio-scsi", "lsilogic"});
    }
    return model.empty(); // sata, ide, fdc, virtio-serial have no models
}

// The QEMU device behind a PCI controller model, and the one libvirt puts in <model name>.
const char* defaultPciModelName(const std::string& model) {
    if (model == "pcie-root-port") {
        return "pcie-root-port";
    }
    if (model == "pcie-to-pci-bridge") {
        return "pcie-pci-bridge";
    }
    if (model == "pci-bridge") {
        return "pci-bridge";
    }
    if (model == "dmi-to-pci-bridge") {
        return "i82801b11-bridge";
    }
    return "";
}

} // namespace

Result<ControllerDef> parseController(xml::Node node) {
    ControllerDef c;
    c.type = xml::attribute(node, "type").value_or("");
    if (!oneOf(c.type, {"pci", "usb", "scsi", "sata", "ide", "fdc", "virtio-serial"})) {
        return notSupported("<controller type='" + c.type +
                            "'> is not supported (pci, usb, scsi, sata, ide, fdc, virtio-serial)");
    }
    auto index = optionalNumber(node, "index", "controller", 255);
    if (!index) {
        return index.takeError();
    }
    c.index = index.value().value_or(0);
    c.indexGiven = index.value().has_value();
    c.model = xml::attribute(node, "model").value_or("");
    if (c.type == "pci" && c.model.empty()) {
        return invalidXml("<controller type='pci'> needs a model");
    }
    if (!knownModel(c.type, c.model)) {
        return notSupported("<controller type='" + c.type + "' model='" + c.model +
                            "'> is not supported");
    }
    if (auto modelNode = xml::firstChild(node, "model")) {
        c.modelName = xml::attribute(modelNode, "name").value_or("");
    }
    if (c.type == "pci") {
        std::string expected = defaultPciModelName(c.model);
        if (c.modelName.empty()) {
            c.modelName = expected;
        } else if (c.modelName != expected &&
                   !(c.model == "pcie-root-port" && c.modelName == "ioh3420")) {
            return notSupported("<controller model='" + c.model + "'><model name='" + c.modelName +
                                "'> is not supported");
        }
        if (auto target = xml::firstChild(node, "target")) {
            auto chassis = optionalNumber(target, "chassis", "target", 255);
            auto port = optionalNumber(target, "port", "target", 255);
            if (!chassis) {
                return chassis.takeError();
            }
            if (!port) {
                return port.takeError();
            }
            c.chassis = chassis.value();
            c.port = port.value();
        }
    }
    if (c.type == "usb") {
        auto ports = optionalNumber(node, "ports", "controller", 15);
        if (!ports) {
            return ports.takeError();
        }
        c.usbPorts = ports.value();
        if (auto master = xml::firstChild(node, "master")) {
            auto start = optionalNumber(master, "startport", "master", 15);
            if (!start) {
                return start.takeError();
            }
            c.masterStartPort = start.value().value_or(0);
        }
    }
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    c.address = address.value();
    return c;
}

Result<InputDef> parseInput(xml::Node node) {
    InputDef in;
    in.type = xml::attribute(node, "type").value_or("");
    if (!oneOf(in.type, {"tablet", "keyboard", "mouse"})) {
        return notSupported("<input type='" + in.type +
                            "'> is not supported (tablet, keyboard, mouse)");
    }
    in.bus = xml::attribute(node, "bus").value_or(in.type == "tablet" ? "usb" : "ps2");
    if (!oneOf(in.bus, {"usb", "virtio", "ps2"})) {
        return notSupported("<input bus='" + in.bus + "'> is not supported (usb, virtio, ps2)");
    }
    if (in.bus == "ps2" && in.type == "tablet") {
        return notSupported("<input type='tablet' bus='ps2'>: a PS/2 tablet does not exist");
    }
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    in.address = address.value();
    return in;
}

Result<MemballoonDef> parseMemballoon(xml::Node node) {
    MemballoonDef b;
    b.model = xml::attribute(node, "model").value_or("");
    if (!oneOf(b.model, {"virtio", "none"})) {
        return notSupported("<memballoon model='" + b.model + "'> is not supported (virtio, none)");
    }
    if (auto stats = xml::firstChild(node, "stats")) {
        auto period = optionalNumber(stats, "period", "stats", 86400);
        if (!period) {
            return period.takeError();
        }
        b.statsPeriod = period.value().value_or(0);
    }
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    b.address = address.value();
    return b;
}

void assignControllerIndexes(DomainDef& def) {
    std::set<std::pair<std::string, uint32_t>> used;
    for (const auto& c : def.controllers) {
        if (c.indexGiven) {
            used.emplace(c.type, c.index);
        }
    }
    auto assign = [&](ControllerDef& c) {
        // USB companions without an index belong to the first USB controller.
        if (c.indexGiven || c.masterStartPort.has_value()) {
            return;
        }
        uint32_t i = 0;
        while (used.count({c.type, i}) > 0) {
            ++i;
        }
        c.index = i;
        c.indexGiven = true;
        used.emplace(c.type, i);
    };
    // The PCI root is index 0 wherever it is in the document, as libvirt numbers it.
    for (auto& c : def.controllers) {
        if (c.model == "pci-root" || c.model == "pcie-root") {
            assign(c);
        }
    }
    for (auto& c : def.controllers) {
        assign(c);
    }
}

namespace {

DriveAddress floppyDriveAddress(const DiskDef& disk) {
    if (const auto* given = std::get_if<DriveAddress>(&disk.address)) {
        return *given;
    }
    DriveAddress a;
    a.unit = diskTargetIndex(disk.targetDev);
    return a;
}

// The one floppy controller has two drives (units 0 and 1: fda, fdb), as in libvirt.
Result<void> checkFloppyAddress(const DiskDef& disk, std::set<uint32_t>& units) {
    DriveAddress a = floppyDriveAddress(disk);
    if (a.controller != 0 || a.bus != 0 || a.target != 0 || a.unit > 1) {
        return invalidXml("floppy '" + disk.targetDev +
                          "': the floppy controller has units 0 and 1 only (fda, fdb)");
    }
    if (!units.insert(a.unit).second) {
        return invalidXml("two floppies at unit " + std::to_string(a.unit));
    }
    return success();
}

} // namespace

Result<void> checkControllers(const DomainDef& def) {
    bool q35 = isQ35Machine(def.machine);
    std::set<std::pair<std::string, uint32_t>> seen;
    bool usbNone = false;
    for (const auto& c : def.controllers) {
        // USB companions share their EHCI master's index.
        bool companion = c.masterStartPort.has_value();
        if (!companion && !seen.emplace(c.type, c.index).second) {
            return invalidXml("two <controller type='" + c.type + "'> with index " +
                              std::to_string(c.index));
        }
        if (c.type == "pci") {
            bool root = c.model == "pci-root" || c.model == "pcie-root";
            if (root != (c.index == 0)) {
                return invalidXml("PCI controller index 0 must be the root, and only it");
            }
            if ((c.model == "pcie-root" && !q35) || (c.model == "pci-root" && q35)) {
                return invalidXml("<controller model='" + c.model + "'> does not match machine '" +
                                  (def.machine.empty() ? "pc" : def.machine) + "'");
            }
            if (!q35 &&
                oneOf(c.model, {"pcie-root-port", "pcie-to-pci-bridge", "dmi-to-pci-bridge"})) {
                return notSupported("<controller model='" + c.model +
                                    "'> needs the q35 machine type");
            }
        }
        if (c.type == "fdc" && c.index != 0) {
            return notSupported("a second floppy controller");
        }
        if (c.type == "ide" && (q35 || c.index != 0)) {
            return notSupported(q35 ? "an IDE controller on q35 (its disks go on sata)"
                                    : "a second IDE controller");
        }
        if (c.type == "usb" && c.model == "none") {
            usbNone = true;
        }
    }
    std::set<uint32_t> floppyUnits;
    for (const auto& disk : def.disks) {
        if (disk.bus == "ide" && q35) {
            return notSupported("disk bus 'ide' on q35 (use sata)");
        }
        if (disk.bus == "fdc") {
            if (auto r = checkFloppyAddress(disk, floppyUnits); !r) {
                return r;
            }
        }
    }
    if (usbNone) {
        for (const auto& in : def.inputs) {
            if (in.bus == "usb") {
                return invalidXml("a USB <input> with <controller type='usb' model='none'>");
            }
        }
    }
    return success();
}

} // namespace virtswarm::detail
