// SPDX-License-Identifier: LGPL-2.1-or-later
// PCI devices, the mediated-device types they offer, and mediated devices.
#include "device_scan.hpp"
#include "device_xml.hpp"

#include <cstdio>

namespace virtswarm::nodedev {
namespace {

struct PciAddress {
    unsigned domain = 0, bus = 0, slot = 0, function = 0;
};

bool parsePciAddress(const std::string& text, PciAddress& out) {
    char tail = 0;
    return std::sscanf(text.c_str(), "%x:%x:%x.%x%c", &out.domain, &out.bus, &out.slot,
                       &out.function, &tail) == 4;
}

std::string hex(unsigned value, int digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*x", digits, value);
    return buf;
}

void addAddress(xml::Node parent, const PciAddress& a) {
    xml::Node node = xml::appendChild(parent, "address");
    xml::setAttribute(node, "domain", hex(a.domain, 4));
    xml::setAttribute(node, "bus", hex(a.bus, 2));
    xml::setAttribute(node, "slot", hex(a.slot, 2));
    xml::setAttribute(node, "function", hex(a.function, 1));
}

// <iommuGroup number='N'> with the address of every PCI device in the group.
void addIommuGroup(const Sysfs& sysfs, const std::string& dir, xml::Node cap) {
    std::string group = sysfs.linkName(dir + "/iommu_group");
    if (group.empty()) {
        return;
    }
    xml::Node node = xml::appendChild(cap, "iommuGroup");
    xml::setAttribute(node, "number", group);
    for (const auto& member : sysfs.list("kernel/iommu_groups/" + group + "/devices")) {
        PciAddress a;
        if (parsePciAddress(member, a)) {
            addAddress(node, a);
        }
    }
}

// <capability type='mdev_types'>: what `create` under mdev_supported_types offers.
void addMdevTypes(const Sysfs& sysfs, const std::string& dir, DeviceXml& doc, xml::Node cap,
                  NodeDevice& device) {
    std::string typesDir = dir + "/mdev_supported_types";
    auto types = sysfs.list(typesDir);
    if (types.empty()) {
        return;
    }
    xml::Node node = doc.capability(cap, "mdev_types");
    for (const auto& type : types) {
        std::string t = typesDir + "/" + type;
        xml::Node typeNode = xml::appendChild(node, "type");
        xml::setAttribute(typeNode, "id", type);
        DeviceXml::add(typeNode, "name", sysfs.read(t + "/name").value_or(""));
        DeviceXml::add(typeNode, "deviceAPI", sysfs.read(t + "/device_api").value_or(""));
        DeviceXml::add(typeNode, "availableInstances",
                       std::to_string(sysfs.readNumber(t + "/available_instances").value_or(0)));
    }
    device.capabilities.push_back("mdev_types");
}

} // namespace

void describePci(const Sysfs& sysfs, const NameDatabase& names, const Candidate& c,
                 NodeDevice& device) {
    const std::string& dir = c.dir;
    DeviceXml doc(device.name, shownPath(dir), device.parent, device.driver);
    xml::Node cap = doc.capability("pci");
    device.capabilities.push_back("pci");
    device.pciAddress = c.sysname;
    PciAddress a;
    parsePciAddress(c.sysname, a);
    unsigned pciClass = static_cast<unsigned>(sysfs.readNumber(dir + "/class").value_or(0));
    unsigned vendor = static_cast<unsigned>(sysfs.readNumber(dir + "/vendor").value_or(0));
    unsigned product = static_cast<unsigned>(sysfs.readNumber(dir + "/device").value_or(0));
    device.vendorId = hex(vendor, 4);
    device.productId = hex(product, 4);
    device.deviceClass = hex(pciClass, 6);
    NameDatabase::Names found = names.lookup(sysfs.read(dir + "/modalias").value_or(""));
    DeviceXml::add(cap, "class", device.deviceClass);
    DeviceXml::add(cap, "domain", std::to_string(a.domain));
    DeviceXml::add(cap, "bus", std::to_string(a.bus));
    DeviceXml::add(cap, "slot", std::to_string(a.slot));
    DeviceXml::add(cap, "function", std::to_string(a.function));
    DeviceXml::addId(cap, "product", device.productId, found.product);
    DeviceXml::addId(cap, "vendor", device.vendorId, found.vendor);
    addMdevTypes(sysfs, dir, doc, cap, device);
    addIommuGroup(sysfs, dir, cap);
    if (auto node = sysfs.readNumber(dir + "/numa_node"); node && *node >= 0) {
        xml::setAttribute(xml::appendChild(cap, "numa"), "node", std::to_string(*node));
    }
    device.xml = doc.finish();
}

void describeMdev(const Sysfs& sysfs, const Candidate& c, NodeDevice& device) {
    DeviceXml doc(device.name, shownPath(c.dir), device.parent, device.driver);
    xml::Node cap = doc.capability("mdev");
    device.capabilities.push_back("mdev");
    device.mdevUuid = c.sysname;
    std::string type = sysfs.linkName(c.dir + "/mdev_type");
    xml::setAttribute(xml::appendChild(cap, "type"), "id", type);
    DeviceXml::add(cap, "uuid", c.sysname);
    std::string group = sysfs.linkName(c.dir + "/iommu_group");
    if (!group.empty()) {
        xml::setAttribute(xml::appendChild(cap, "iommuGroup"), "number", group);
    }
    device.deviceClass = type;
    device.xml = doc.finish();
}

} // namespace virtswarm::nodedev
