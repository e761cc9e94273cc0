// SPDX-License-Identifier: LGPL-2.1-or-later
// USB, net, block, SCSI and DRM devices, and the `computer` root.
#include "device_scan.hpp"
#include "device_xml.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace virtswarm::nodedev {
namespace {

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    return text;
}

// A sysfs hex attribute ("09") as libvirt prints it: decimal.
std::string hexAsDecimal(const Sysfs& sysfs, const std::string& path) {
    auto text = sysfs.read(path);
    if (!text || text->empty()) {
        return {};
    }
    return std::to_string(std::strtoul(text->c_str(), nullptr, 16));
}

void describeUsbDevice(const Sysfs& sysfs, const NameDatabase& names, const std::string& dir,
                       DeviceXml& doc, NodeDevice& device) {
    xml::Node cap = doc.capability("usb_device");
    device.capabilities.push_back("usb_device");
    std::string vendor = sysfs.read(dir + "/idVendor").value_or("");
    std::string product = sysfs.read(dir + "/idProduct").value_or("");
    device.vendorId = "0x" + vendor;
    device.productId = "0x" + product;
    device.deviceClass = "0x" + sysfs.read(dir + "/bDeviceClass").value_or("");
    NameDatabase::Names found = names.lookup("usb:v" + upper(vendor) + "p" + upper(product) + "*");
    DeviceXml::add(cap, "bus", sysfs.read(dir + "/busnum").value_or(""));
    DeviceXml::add(cap, "device", sysfs.read(dir + "/devnum").value_or(""));
    DeviceXml::addId(cap, "product", device.productId,
                     found.product.empty() ? sysfs.read(dir + "/product").value_or("")
                                           : found.product);
    DeviceXml::addId(cap, "vendor", device.vendorId,
                     found.vendor.empty() ? sysfs.read(dir + "/manufacturer").value_or("")
                                          : found.vendor);
}

void describeUsbInterface(const Sysfs& sysfs, const std::string& dir, DeviceXml& doc,
                          NodeDevice& device) {
    xml::Node cap = doc.capability("usb");
    device.capabilities.push_back("usb");
    device.deviceClass = "0x" + sysfs.read(dir + "/bInterfaceClass").value_or("");
    DeviceXml::add(cap, "number", hexAsDecimal(sysfs, dir + "/bInterfaceNumber"));
    DeviceXml::add(cap, "class", hexAsDecimal(sysfs, dir + "/bInterfaceClass"));
    DeviceXml::add(cap, "subclass", hexAsDecimal(sysfs, dir + "/bInterfaceSubClass"));
    DeviceXml::add(cap, "protocol", hexAsDecimal(sysfs, dir + "/bInterfaceProtocol"));
}

void describeNet(const Sysfs& sysfs, const Candidate& c, DeviceXml& doc, NodeDevice& device) {
    xml::Node cap = doc.capability("net");
    device.capabilities.push_back("net");
    DeviceXml::add(cap, "interface", c.sysname);
    DeviceXml::add(cap, "address", sysfs.read(c.dir + "/address").value_or(""));
    xml::Node link = xml::appendChild(cap, "link");
    xml::setAttribute(link, "state", sysfs.read(c.dir + "/operstate").value_or("unknown"));
    // Reading `speed` of a link that is down fails (EINVAL); -1 means unknown.
    if (auto speed = sysfs.readNumber(c.dir + "/speed"); speed && *speed > 0) {
        xml::setAttribute(link, "speed", std::to_string(*speed));
    }
    // ARPHRD_ETHER (1) is IEEE 802.3, which libvirt names 80203.
    if (sysfs.readNumber(c.dir + "/type").value_or(0) == 1) {
        doc.capability(cap, "80203");
    }
}

std::string driveType(const std::string& sysname) {
    if (sysname.rfind("sr", 0) == 0) {
        return "cdrom";
    }
    if (sysname.rfind("fd", 0) == 0) {
        return "floppy";
    }
    return "disk";
}

void describeStorage(const Sysfs& sysfs, const Candidate& c, DeviceXml& doc, NodeDevice& device) {
    xml::Node cap = doc.capability("storage");
    device.capabilities.push_back("storage");
    DeviceXml::add(cap, "block", "/dev/" + c.sysname);
    DeviceXml::add(cap, "drive_type", driveType(c.sysname));
    DeviceXml::add(cap, "model", sysfs.read(c.dir + "/device/model").value_or(""));
    DeviceXml::add(cap, "vendor", sysfs.read(c.dir + "/device/vendor").value_or(""));
    DeviceXml::add(cap, "serial", sysfs.read(c.dir + "/serial").value_or(""));
    // `size` counts 512-byte sectors whatever the device's block size.
    long long bytes = sysfs.readNumber(c.dir + "/size").value_or(0) * 512;
    long long blockSize = sysfs.readNumber(c.dir + "/queue/logical_block_size").value_or(512);
    DeviceXml::add(cap, "size", std::to_string(bytes));
    DeviceXml::add(cap, "logical_block_size", std::to_string(blockSize));
    DeviceXml::add(cap, "num_blocks", std::to_string(blockSize > 0 ? bytes / blockSize : 0));
}

void describeScsiHost(const Sysfs& sysfs, const Candidate& c, DeviceXml& doc, NodeDevice& device) {
    xml::Node cap = doc.capability("scsi_host");
    device.capabilities.push_back("scsi_host");
    DeviceXml::add(cap, "host", c.sysname.substr(4)); // "host0"
    DeviceXml::add(cap, "unique_id", sysfs.read(c.dir + "/unique_id").value_or(""));
    std::string fc = "class/fc_host/" + c.sysname;
    if (sysfs.exists(fc)) {
        xml::Node fcCap = doc.capability(cap, "fc_host");
        device.capabilities.push_back("fc_host");
        // The kernel prints 0x-prefixed WWNs; libvirt shows the bare digits.
        auto bare = [&](const char* attr) {
            std::string v = sysfs.read(fc + "/" + attr).value_or("");
            return v.rfind("0x", 0) == 0 ? v.substr(2) : v;
        };
        device.wwnn = bare("node_name");
        device.wwpn = bare("port_name");
        DeviceXml::add(fcCap, "wwnn", device.wwnn);
        DeviceXml::add(fcCap, "wwpn", device.wwpn);
        DeviceXml::add(fcCap, "fabric_wwn", bare("fabric_name"));
    }
}

void describeScsi(const Sysfs& sysfs, const Candidate& c, DeviceXml& doc, NodeDevice& device) {
    if (c.kind == DeviceKind::ScsiTarget) {
        DeviceXml::add(doc.capability("scsi_target"), "target", c.sysname);
        device.capabilities.push_back("scsi_target");
        return;
    }
    xml::Node cap = doc.capability("scsi");
    device.capabilities.push_back("scsi");
    unsigned host = 0, bus = 0, target = 0, lun = 0;
    std::sscanf(c.sysname.c_str(), "%u:%u:%u:%u", &host, &bus, &target, &lun);
    DeviceXml::add(cap, "host", std::to_string(host));
    DeviceXml::add(cap, "bus", std::to_string(bus));
    DeviceXml::add(cap, "target", std::to_string(target));
    DeviceXml::add(cap, "lun", std::to_string(lun));
    static const char* const kTypes[] = {"disk",  "tape",    "printer", "processor", "worm",
                                         "cdrom", "scanner", "optical", "changer",   "comm"};
    auto type = sysfs.readNumber(c.dir + "/type");
    if (type && *type >= 0 && *type < 10) {
        DeviceXml::add(cap, "type", kTypes[*type]);
    }
}

void describeDrm(const Candidate& c, DeviceXml& doc, NodeDevice& device) {
    std::string type = c.sysname.rfind("renderD", 0) == 0    ? "render"
                       : c.sysname.rfind("controlD", 0) == 0 ? "control"
                                                             : "primary";
    DeviceXml::add(doc.capability("drm"), "type", type);
    device.capabilities.push_back("drm");
}

} // namespace

void describeOther(const Sysfs& sysfs, const NameDatabase& names, const Candidate& c,
                   NodeDevice& device) {
    DeviceXml doc(device.name, shownPath(c.dir), device.parent, device.driver);
    switch (c.kind) {
    case DeviceKind::UsbDevice:
        describeUsbDevice(sysfs, names, c.dir, doc, device);
        break;
    case DeviceKind::UsbInterface:
        describeUsbInterface(sysfs, c.dir, doc, device);
        break;
    case DeviceKind::Net:
        describeNet(sysfs, c, doc, device);
        break;
    case DeviceKind::Storage:
        describeStorage(sysfs, c, doc, device);
        break;
    case DeviceKind::ScsiHost:
        describeScsiHost(sysfs, c, doc, device);
        break;
    case DeviceKind::ScsiTarget:
    case DeviceKind::Scsi:
        describeScsi(sysfs, c, doc, device);
        break;
    case DeviceKind::Drm:
        describeDrm(c, doc, device);
        break;
    case DeviceKind::Pci:
    case DeviceKind::Mdev:
        break; // scan_pci.cpp
    }
    device.xml = doc.finish();
}

NodeDevice describeComputer(const Sysfs& sysfs) {
    NodeDevice device;
    device.name = "computer";
    device.capabilities.push_back("system");
    DeviceXml doc("computer", "", "", "");
    xml::Node cap = doc.capability("system");
    auto dmi = [&](const char* attr) {
        return sysfs.read(std::string("class/dmi/id/") + attr).value_or("");
    };
    DeviceXml::add(cap, "product", dmi("product_name"));
    xml::Node hardware = xml::appendChild(cap, "hardware");
    DeviceXml::add(hardware, "vendor", dmi("sys_vendor"));
    DeviceXml::add(hardware, "version", dmi("product_version"));
    DeviceXml::add(hardware, "serial", dmi("product_serial"));
    DeviceXml::add(hardware, "uuid", dmi("product_uuid"));
    xml::Node firmware = xml::appendChild(cap, "firmware");
    DeviceXml::add(firmware, "vendor", dmi("bios_vendor"));
    DeviceXml::add(firmware, "version", dmi("bios_version"));
    DeviceXml::add(firmware, "release_date", dmi("bios_date"));
    device.xml = doc.finish();
    return device;
}

} // namespace virtswarm::nodedev
