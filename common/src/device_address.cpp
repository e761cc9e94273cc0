// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/device_address.hpp"

#include <charconv>
#include <cstdio>

namespace virtswarm {
namespace {

// libvirt writes address numbers in hex with a 0x prefix (slot='0x03') or in decimal.
Result<uint32_t> number(xml::Node node, const char* attr, uint32_t max) {
    auto text = xml::attribute(node, attr);
    if (!text) {
        return 0U;
    }
    std::string_view v = *text;
    int base = 10;
    if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        v.remove_prefix(2);
        base = 16;
    }
    uint32_t out = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || out > max) {
        return Error(Code::InvalidXML, std::string("<address ") + attr + "='" + *text +
                                           "'> is not a number from 0 to " + std::to_string(max));
    }
    return out;
}

} // namespace

Result<DeviceAddress> parseDeviceAddress(xml::Node device) {
    xml::Node node = xml::firstChild(device, "address");
    if (node == nullptr) {
        return DeviceAddress{};
    }
    std::string type = xml::attribute(node, "type").value_or("");
    if (type == "pci") {
        PciAddress a;
        auto domain = number(node, "domain", 0xffff);
        auto bus = number(node, "bus", 0xff);
        auto slot = number(node, "slot", 0x1f);
        auto function = number(node, "function", 7);
        for (const auto* r : {&domain, &bus, &slot, &function}) {
            if (!*r) {
                return r->error();
            }
        }
        if (domain.value() != 0) {
            return Error(Code::NotSupported, "PCI domains other than 0 are not supported");
        }
        a.domain = domain.value();
        a.bus = bus.value();
        a.slot = slot.value();
        a.function = function.value();
        a.multifunction = xml::attribute(node, "multifunction").value_or("off") == "on";
        return DeviceAddress{a};
    }
    if (type == "drive") {
        DriveAddress a;
        auto controller = number(node, "controller", 0xff);
        auto bus = number(node, "bus", 0xff);
        auto target = number(node, "target", 0xff);
        auto unit = number(node, "unit", 0x3fff);
        for (const auto* r : {&controller, &bus, &target, &unit}) {
            if (!*r) {
                return r->error();
            }
        }
        a.controller = controller.value();
        a.bus = bus.value();
        a.target = target.value();
        a.unit = unit.value();
        return DeviceAddress{a};
    }
    if (type == "virtio-serial") {
        VirtioSerialAddress a;
        auto controller = number(node, "controller", 0xff);
        auto bus = number(node, "bus", 0xff);
        auto port = number(node, "port", 0xffff);
        for (const auto* r : {&controller, &bus, &port}) {
            if (!*r) {
                return r->error();
            }
        }
        a.controller = controller.value();
        a.bus = bus.value();
        a.port = port.value();
        return DeviceAddress{a};
    }
    if (type == "usb") {
        auto bus = number(node, "bus", 0xff);
        if (!bus) {
            return bus.error();
        }
        return DeviceAddress{UsbAddress{bus.value(), xml::attribute(node, "port").value_or("")}};
    }
    return Error(Code::NotSupported, "device <address type='" + type + "'> is not supported");
}

std::string qemuPciBusId(uint32_t index, bool q35) {
    if (index == 0) {
        return q35 ? "pcie.0" : "pci.0";
    }
    return "pci." + std::to_string(index);
}

std::string qemuPciAddressSuffix(const DeviceAddress& address, bool q35) {
    const auto* pci = std::get_if<PciAddress>(&address);
    if (pci == nullptr) {
        return {};
    }
    char addr[16];
    std::snprintf(addr, sizeof addr, "0x%x.0x%x", pci->slot, pci->function);
    std::string out = ",bus=" + qemuPciBusId(pci->bus, q35) + ",addr=" + addr;
    if (pci->multifunction) {
        out += ",multifunction=on";
    }
    return out;
}

} // namespace virtswarm
