// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_scan.hpp"

#include <algorithm>
#include <map>

namespace virtswarm::nodedev {
namespace {

// The entries of a bus or class directory, each resolved to its device directory.
void collect(const Sysfs& sysfs, const std::string& listing, DeviceKind kind,
             std::vector<Candidate>& out) {
    for (const auto& entry : sysfs.list(listing)) {
        std::string dir = sysfs.resolve(listing + "/" + entry);
        if (!dir.empty()) {
            out.push_back(Candidate{kind, dir, entry, {}});
        }
    }
}

std::string macPart(const Sysfs& sysfs, const std::string& dir) {
    return sysfs.read(dir + "/address").value_or("");
}

std::string storageSerial(const Sysfs& sysfs, const std::string& dir) {
    if (auto serial = sysfs.read(dir + "/serial"); serial && !serial->empty()) {
        return *serial;
    }
    if (auto serial = sysfs.read(dir + "/device/serial"); serial && !serial->empty()) {
        return *serial;
    }
    return sysfs.read(dir + "/device/wwid").value_or("");
}

// Which block devices are storage devices: whole disks (not partitions) with media.
bool isDisk(const Sysfs& sysfs, const std::string& dir) {
    return !sysfs.exists(dir + "/partition") && sysfs.readNumber(dir + "/size").value_or(0) > 0;
}

std::string nameOf(const Sysfs& sysfs, const Candidate& c) {
    switch (c.kind) {
    case DeviceKind::Pci: {
        std::string addr = c.sysname; // 0000:00:02.0
        return deviceName({"pci", addr});
    }
    case DeviceKind::UsbDevice:
    case DeviceKind::UsbInterface:
        return deviceName({"usb", c.sysname});
    case DeviceKind::Net:
        return deviceName({"net", c.sysname, macPart(sysfs, c.dir)});
    case DeviceKind::Storage:
        return deviceName({"block", c.sysname, storageSerial(sysfs, c.dir)});
    case DeviceKind::ScsiHost:
        return deviceName({"scsi", c.sysname});
    case DeviceKind::ScsiTarget:
        return deviceName({"scsi", c.sysname});
    case DeviceKind::Scsi:
        return deviceName({"scsi", c.sysname});
    case DeviceKind::Drm:
        return deviceName({"drm", c.sysname});
    case DeviceKind::Mdev:
        return deviceName({"mdev", c.sysname});
    }
    return {};
}

std::vector<Candidate> findCandidates(const Sysfs& sysfs) {
    std::vector<Candidate> found;
    collect(sysfs, "bus/pci/devices", DeviceKind::Pci, found);
    std::vector<Candidate> usb;
    collect(sysfs, "bus/usb/devices", DeviceKind::UsbDevice, usb);
    for (auto& c : usb) {
        // "1-1:1.0" is an interface of device "1-1"; "usb1" a root hub (a device).
        if (c.sysname.find(':') != std::string::npos) {
            c.kind = DeviceKind::UsbInterface;
        }
        found.push_back(c);
    }
    collect(sysfs, "class/net", DeviceKind::Net, found);
    std::vector<Candidate> block;
    collect(sysfs, "class/block", DeviceKind::Storage, block);
    for (auto& c : block) {
        if (isDisk(sysfs, c.dir)) {
            found.push_back(c);
        }
    }
    collect(sysfs, "class/scsi_host", DeviceKind::ScsiHost, found);
    std::vector<Candidate> scsi;
    collect(sysfs, "bus/scsi/devices", DeviceKind::Scsi, scsi);
    for (auto& c : scsi) {
        if (c.sysname.rfind("target", 0) == 0) {
            c.kind = DeviceKind::ScsiTarget;
            found.push_back(c);
        } else if (c.sysname.find(':') != std::string::npos) {
            found.push_back(c); // H:B:T:L; hostN entries are the scsi_host class's
        }
    }
    collect(sysfs, "class/drm", DeviceKind::Drm, found);
    collect(sysfs, "bus/mdev/devices", DeviceKind::Mdev, found);
    for (auto& c : found) {
        c.name = nameOf(sysfs, c);
    }
    return found;
}

// The nearest ancestor directory that is a device itself; "computer" if none.
std::string parentOf(const std::string& dir, const std::map<std::string, std::string>& byDir) {
    std::string up = dir;
    for (auto slash = up.rfind('/'); slash != std::string::npos; slash = up.rfind('/')) {
        up.resize(slash);
        if (auto it = byDir.find(up); it != byDir.end()) {
            return it->second;
        }
    }
    return "computer";
}

} // namespace

std::vector<NodeDevice> scanDevices(const Sysfs& sysfs, const NameDatabase& names) {
    std::vector<Candidate> candidates = findCandidates(sysfs);
    std::map<std::string, std::string> byDir;
    for (const auto& c : candidates) {
        byDir.emplace(c.dir, c.name);
    }
    std::vector<NodeDevice> devices{describeComputer(sysfs)};
    std::map<std::string, bool> seen{{"computer", true}};
    for (const auto& c : candidates) {
        if (!seen.emplace(c.name, true).second) {
            continue; // one device reached through two listings
        }
        NodeDevice device;
        device.name = c.name;
        device.parent = parentOf(c.dir, byDir);
        device.sysfsDir = c.dir;
        device.driver = sysfs.linkName(c.dir + "/driver");
        if (c.kind == DeviceKind::Pci) {
            describePci(sysfs, names, c, device);
        } else if (c.kind == DeviceKind::Mdev) {
            describeMdev(sysfs, c, device);
        } else {
            describeOther(sysfs, names, c, device);
        }
        devices.push_back(std::move(device));
    }
    std::sort(devices.begin(), devices.end(),
              [](const NodeDevice& a, const NodeDevice& b) { return a.name < b.name; });
    return devices;
}

} // namespace virtswarm::nodedev
