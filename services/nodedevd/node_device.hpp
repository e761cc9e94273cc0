// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>
#include <vector>

namespace virtswarm::nodedev {

// One host device as nodedevd found it in sysfs, with its libvirt nodedev XML.
struct NodeDevice {
    std::string name;     // libvirt's name: pci_0000_00_02_0, net_eth0_52_54_00_12_34_56
    std::string parent;   // the parent's name; "computer" at the top, empty for computer
    std::string sysfsDir; // relative to the sysfs root, symlinks resolved ("devices/pci...")
    std::string driver;   // bound driver, empty if none
    // Capability types, the device's own first ("pci"), then nested ones ("mdev_types").
    std::vector<std::string> capabilities;
    // For polkit (node_device_name, vendor_id, product_id, device_class): "0x1af4"-style
    // ids; empty where the kind has none.
    std::string vendorId;
    std::string productId;
    std::string deviceClass;
    std::string pciAddress; // "0000:00:02.0", PCI devices only
    std::string mdevUuid;   // mediated devices only
    // A Fibre Channel SCSI host's names (virNodeDeviceLookupSCSIHostByWWN), else empty.
    std::string wwnn;
    std::string wwpn;
    std::string xml;

    bool is(const std::string& capability) const {
        for (const auto& c : capabilities) {
            if (c == capability) {
                return true;
            }
        }
        return false;
    }
};

// libvirt's udevGenerateDeviceName: the parts joined by '_', every byte that is not a
// letter or digit replaced by '_' (so names are object path elements as they are).
std::string deviceName(const std::vector<std::string>& parts);

} // namespace virtswarm::nodedev
