// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// libvirt's <address> element of a device, as virt-install and libvirtd write it, and how
// QEMU is told to put the device there. Honouring the addresses is what gives a guest the
// same PCI layout on every boot.
#include "virtswarm/result.hpp"
#include "virtswarm/xml.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace virtswarm {

struct PciAddress {
    uint32_t domain = 0;
    uint32_t bus = 0;
    uint32_t slot = 0;
    uint32_t function = 0;
    bool multifunction = false;
};

// type='drive': a disk on a SCSI, SATA or IDE controller.
struct DriveAddress {
    uint32_t controller = 0;
    uint32_t bus = 0;
    uint32_t target = 0;
    uint32_t unit = 0;
};

// type='virtio-serial': a port of a virtio-serial controller (channels, consoles).
struct VirtioSerialAddress {
    uint32_t controller = 0;
    uint32_t bus = 0;
    uint32_t port = 0;
};

// type='usb': a port on a USB bus ("1", "1.2" for a port behind a hub).
struct UsbAddress {
    uint32_t bus = 0;
    std::string port;
};

// std::monostate: the element had no <address>, QEMU (or the layout code) chooses.
using DeviceAddress =
    std::variant<std::monostate, PciAddress, DriveAddress, VirtioSerialAddress, UsbAddress>;

// Reads the <address> child of a device element. Types libvirt has but QEMU on x86 has
// no use for (isa, ccw, spapr-vio, ...) are NotSupported; bad numbers are InvalidXML.
Result<DeviceAddress> parseDeviceAddress(xml::Node device);

// The QEMU id of PCI bus `index`: the root bus is "pcie.0" on q35 and "pci.0" on pc;
// every other bus is the controller with that index, whose id is "pci.<index>"
// (the alias libvirt gives it).
std::string qemuPciBusId(uint32_t index, bool q35);

// ",bus=<id>,addr=0xSS.0xF[,multifunction=on]" for a PCI address, "" for none.
std::string qemuPciAddressSuffix(const DeviceAddress& address, bool q35);

} // namespace virtswarm
