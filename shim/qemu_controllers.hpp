// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Controllers (PCI topology, USB, SCSI, SATA, virtio-serial), inputs and the memory
// balloon as QEMU devices, with libvirt's aliases as their ids.
#include "qemu_command.hpp"

#include <string>
#include <vector>

namespace virtswarm::shim {

// The QEMU id of a controller: libvirt's alias ("pci.1", "usb", "scsi0", "sata1",
// "virtio-serial0"); q35's built-in AHCI (sata index 0) is "ide".
std::string qemuControllerId(const std::string& type, uint32_t index, bool q35);

// The SCSI controller model ("virtio-scsi" or "lsilogic") of controller `index`, as the
// disks on it are addressed differently.
std::string scsiControllerModel(const DomainDef& def, uint32_t index);

// The -device options of the controllers, PCI ones first (by index, so every bus exists
// before what sits on it), plus those libvirt would add for the disks and inputs that
// need one (a virtio-scsi or lsilogic for scsi disks, an AHCI on pc, a USB controller).
void addControllers(const DomainDef& def, std::vector<std::string>& argv);

// <input> devices (PS/2 ones are part of the x86 machines) and the <memballoon>.
void addInputsAndBalloon(const DomainDef& def, std::vector<std::string>& argv);

// The QOM path of the balloon, for its statistics (qom-set/qom-get).
inline constexpr const char* kBalloonQomPath = "/machine/peripheral/balloon0";

} // namespace virtswarm::shim
