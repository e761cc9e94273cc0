// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// <disk> elements as QEMU -drive (the backend) and -device (the frontend on its bus).
#include "qemu_command.hpp"

#include <string>
#include <vector>

namespace virtswarm::shim {

// Where a disk sits on its controller when the XML gives no <address type='drive'>:
// libvirt's rule, from the target name's index (sda 0, sdb 1, ..., sdaa 26).
DriveAddress defaultDriveAddress(const DomainDef& def, const DiskDef& disk);

// The -device of one disk, for start and for hotplug.
std::string qemuDiskDevice(const DomainDef& def, const DiskDef& disk);

// The -drive options naming each image below `source` (launch.backingChains): its
// driver and its fd set, nested as backing.backing...; empty for an unbacked image.
std::string qemuBackingOptions(const QemuLaunch& launch, const std::string& source);

void addDisks(const DomainDef& def, const QemuLaunch& launch, std::vector<std::string>& argv);

} // namespace virtswarm::shim
