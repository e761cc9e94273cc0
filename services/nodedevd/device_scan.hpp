// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "name_database.hpp"
#include "node_device.hpp"
#include "sysfs.hpp"

#include <vector>

namespace virtswarm::nodedev {

// What kind of device a sysfs entry is; decides its name and capability.
enum class DeviceKind {
    Pci,
    UsbDevice,
    UsbInterface,
    Net,
    Storage,
    ScsiHost,
    ScsiTarget,
    Scsi,
    Drm,
    Mdev
};

// One device found in pass one: enough to name it and to find parents.
struct Candidate {
    DeviceKind kind;
    std::string dir;     // resolved, relative to the sysfs root
    std::string sysname; // the entry's own name: "0000:00:02.0", "eth0", "vda", "1-1"
    std::string name;
};

// Every device of the host, read from sysfs (no udevd needed): the `computer` root,
// PCI, USB devices and interfaces, net, block disks, SCSI hosts, targets and devices,
// DRM and mediated devices; parents by sysfs ancestry, as libvirt's udev backend finds
// them. Sorted by name.
std::vector<NodeDevice> scanDevices(const Sysfs& sysfs, const NameDatabase& names);

// The capability part of each kind (scan_pci.cpp, scan_classes.cpp): fills `device`
// (its XML included) from sysfs.
void describePci(const Sysfs& sysfs, const NameDatabase& names, const Candidate& c,
                 NodeDevice& device);
void describeMdev(const Sysfs& sysfs, const Candidate& c, NodeDevice& device);
void describeOther(const Sysfs& sysfs, const NameDatabase& names, const Candidate& c,
                   NodeDevice& device);
NodeDevice describeComputer(const Sysfs& sysfs);

// "devices/pci0000:00/0000:00:02.0" as libvirt shows it: "/sys/devices/...".
inline std::string shownPath(const std::string& dir) {
    return "/sys/" + dir;
}

} // namespace virtswarm::nodedev
