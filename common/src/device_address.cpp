// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/device_address.hpp"

#include <charconv>
#include <cstdio>
#include <tuple>

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

// Reads each (attribute, maximum) into its target; the first bad one is the error.
Result<void> numbers(xml::Node node,
                     std::initializer_list<std::tuple<const char*, uint32_t, uint32_t*>> fields) {
    for (const auto& [attr, max, into] : fields) {
        auto value = number(node, attr, max);
        if (!value) {
            return value.takeError();
        }
        *into = value.value();
    }
    return success();
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
        if (auto r = numbers(node, {{"domain", 0xffff, &a.domain},
                                    {"bus", 0xff, &a.bus},
                                    {"slot", 0x1f, &a.slot},
                                    {"function", 7, &a.function}});
            !r) {
            return r.takeError();
        }
        if (a.domain != 0) {
            return Error(Code::ConfigUnsupported, "PCI domains other than 0 are not supported");
        }
        a.multifunction = xml::attribute(node, "multifunction").value_or("off") == "on";
        return DeviceAddress{a};
    }
    if (type == "drive") {
        DriveAddress a;
        if (auto r = numbers(node, {{"controller", 0xff, &a.controller},
                                    {"bus", 0xff, &a.bus},
                                    {"target", 0xff, &a.target},
                                    {"unit", 0x3fff, &a.unit}});
            !r) {
            return r.takeError();
        }
        return DeviceAddress{a};
    }
    if (type == "virtio-serial") {
        VirtioSerialAddress a;
        if (auto r = numbers(node, {{"controller", 0xff, &a.controller},
                                    {"bus", 0xff, &a.bus},
                                    {"port", 0xffff, &a.port}});
            !r) {
            return r.takeError();
        }
        return DeviceAddress{a};
    }
    if (type == "usb") {
        auto bus = number(node, "bus", 0xff);
        if (!bus) {
            return bus.error();
        }
        return DeviceAddress{UsbAddress{bus.value(), xml::attribute(node, "port").value_or("")}};
    }
    return Error(Code::ConfigUnsupported, "device <address type='" + type + "'> is not supported");
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
