// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_disks.hpp"

#include "qemu_controllers.hpp"
#include "qemu_ids.hpp"

namespace virtswarm::shim {
namespace {

DriveAddress driveAddressOf(const DomainDef& def, const DiskDef& disk) {
    if (const auto* drive = std::get_if<DriveAddress>(&disk.address)) {
        return *drive;
    }
    return defaultDriveAddress(def, disk);
}

} // namespace

DriveAddress defaultDriveAddress(const DomainDef& def, const DiskDef& disk) {
    uint32_t idx = diskTargetIndex(disk.targetDev);
    DriveAddress a;
    if (disk.bus == "ide") {
        a.bus = (idx % 4) / 2;
        a.unit = idx % 2;
    } else if (disk.bus == "sata") {
        a.controller = idx / 6;
        a.unit = idx % 6;
    } else if (disk.bus == "fdc") {
        a.unit = idx;
    } else if (disk.bus == "scsi") {
        // lsilogic has 7 targets per bus; virtio-scsi addresses disks by LUN.
        if (scsiControllerModel(def, 0) == "virtio-scsi") {
            a.unit = idx;
        } else {
            a.controller = idx / 7;
            a.unit = idx % 7;
        }
    }
    return a;
}

std::string qemuDiskDevice(const DomainDef& def, const DiskDef& disk) {
    bool q35 = isQ35Machine(def.machine);
    bool cdrom = disk.device == "cdrom";
    std::string id = qemu_id::disk(disk.targetDev);
    std::string tail = ",drive=" + qemu_id::diskNode(id) + ",id=" + id;
    if (disk.bus == "virtio") {
        return "virtio-blk-pci" + qemuPciAddressSuffix(disk.address, q35) + tail;
    }
    DriveAddress a = driveAddressOf(def, disk);
    if (disk.bus == "scsi") {
        std::string bus = qemuControllerId("scsi", a.controller, q35) + ".0";
        std::string dev = std::string(cdrom ? "scsi-cd" : "scsi-hd") + ",bus=" + bus;
        if (scsiControllerModel(def, a.controller) == "virtio-scsi") {
            dev += ",channel=" + std::to_string(a.bus) + ",scsi-id=" + std::to_string(a.target) +
                   ",lun=" + std::to_string(a.unit);
        } else {
            dev += ",scsi-id=" + std::to_string(a.unit);
        }
        return dev + tail;
    }
    if (disk.bus == "fdc") {
        // On the pc machine's own floppy controller, or on q35 the isa-fdc added for it.
        return "floppy,unit=" + std::to_string(a.unit) + tail;
    }
    std::string kind = cdrom ? "ide-cd" : "ide-hd";
    if (disk.bus == "sata") {
        return kind + ",bus=" + qemuControllerId("sata", a.controller, q35) + "." +
               std::to_string(a.unit) + tail;
    }
    // The pc machine's built-in IDE controller: two buses, two units each.
    return kind + ",bus=ide." + std::to_string(a.bus) + ",unit=" + std::to_string(a.unit) + tail;
}

std::string qemuBackingOptions(const QemuLaunch& launch, const std::string& source) {
    auto chain = launch.backingChains.find(source);
    if (chain == launch.backingChains.end()) {
        return "";
    }
    std::string options;
    std::string layer = "backing.";
    for (const auto& image : chain->second) {
        options += "," + layer + "driver=" + image.format + "," + layer +
                   "file.filename=" + qemuEscapeCommas(qemuFilePath(launch, image.path));
        layer += "backing.";
    }
    return options;
}

void addDisks(const DomainDef& def, const QemuLaunch& launch, std::vector<std::string>& argv) {
    for (const auto& disk : def.disks) {
        std::string drive = "if=none,id=" + qemu_id::diskNode(qemu_id::disk(disk.targetDev));
        if (!disk.source.empty()) {
            drive += ",file=" + qemuEscapeCommas(qemuFilePath(launch, disk.source)) +
                     ",format=" + disk.format + qemuBackingOptions(launch, disk.source);
        }
        if (disk.device == "cdrom") {
            drive += ",media=cdrom";
        }
        if (disk.readonly) {
            drive += ",readonly=on";
        }
        argv.insert(argv.end(), {"-drive", drive});
        argv.insert(argv.end(), {"-device", qemuDiskDevice(def, disk)});
    }
}

} // namespace virtswarm::shim
