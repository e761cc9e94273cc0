// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_devices.hpp"

#include "domain_doc.hpp"
#include "domain_elements.hpp"

#include <libxml/tree.h>

namespace virtswarm {
namespace {

bool matches(xml::Node node, const DeviceSpec& device) {
    if (device.kind == DeviceSpec::Kind::Disk) {
        if (xml::name(node) != "disk") {
            return false;
        }
        xml::Node target = xml::firstChild(node, "target");
        return target != nullptr &&
               xml::attribute(target, "dev").value_or("") == device.disk.targetDev;
    }
    if (xml::name(node) != "interface") {
        return false;
    }
    xml::Node mac = xml::firstChild(node, "mac");
    std::string address = mac ? xml::attribute(mac, "address").value_or("") : "";
    for (auto& c : address) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return address == device.nic.mac;
}

xml::Node devicesOf(xml::Document& doc) {
    xml::Node devices = xml::firstChild(doc.root(), "devices");
    return devices != nullptr ? devices : xml::appendChild(doc.root(), "devices");
}

} // namespace

Result<DeviceSpec> parseDeviceXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, 1024 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Document doc = std::move(parsed).value();
    xml::Node root = doc.root();
    DeviceSpec spec{};
    if (xml::name(root) == "disk") {
        auto disk = detail::parseDisk(root);
        if (!disk) {
            return disk.takeError();
        }
        spec.kind = DeviceSpec::Kind::Disk;
        spec.disk = std::move(disk).value();
    } else if (xml::name(root) == "interface") {
        auto nic = detail::parseInterface(root);
        if (!nic) {
            return nic.takeError();
        }
        spec.kind = DeviceSpec::Kind::Interface;
        spec.nic = std::move(nic).value();
    } else {
        return Error(Code::NotSupported,
                     "hotplug of <" + std::string(xml::name(root)) + "> is not supported");
    }
    spec.xml = doc.serialize();
    return spec;
}

Result<DomainXml> withDeviceAdded(const DomainXml& domain, const DeviceSpec& device) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    auto snippet = xml::Document::parse(device.xml);
    if (!snippet) {
        return snippet.takeError();
    }
    // Device ids derive from the disk target and the MAC: each must be unique (libvirt
    // refuses these the same way).
    xml::Node devices = devicesOf(doc.value());
    for (xml::Node node = devices->children; node != nullptr; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && matches(node, device)) {
            return Error(Code::InvalidState,
                         device.kind == DeviceSpec::Kind::Disk
                             ? "target " + device.disk.targetDev + " already exists"
                             : "an interface with MAC " + device.nic.mac + " already exists");
        }
    }
    xml::Node copy = xmlDocCopyNode(snippet.value().root(), doc.value().raw(), 1);
    xmlAddChild(devices, copy);
    return parseDomainXml(doc.value().serialize());
}

Result<DomainXml> withDeviceRemoved(const DomainXml& domain, const DeviceSpec& device) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    for (xml::Node node : xml::children(devicesOf(doc.value()))) {
        if (matches(node, device)) {
            xml::removeNode(node);
            return parseDomainXml(doc.value().serialize());
        }
    }
    // libvirt: DEVICE_MISSING, which callers such as Nova's detach path test for.
    return Error(Code::DeviceMissing, device.kind == DeviceSpec::Kind::Disk
                                          ? "no disk with target '" + device.disk.targetDev + "'"
                                          : "no interface with MAC " + device.nic.mac);
}

namespace {

Error updateRefused(bool live, const std::string& what) {
    return live ? Error(Code::OperationUnsupported, "live update of " + what + " is not supported")
                : Error(Code::ConfigUnsupported,
                        "persistent update of " + what + " is not supported");
}

// The disk element of `devices` with target `target`, or null.
xml::Node diskWithTarget(xml::Node devices, const std::string& target) {
    DeviceSpec probe{};
    probe.kind = DeviceSpec::Kind::Disk;
    probe.disk.targetDev = target;
    for (xml::Node node : xml::children(devices)) {
        if (matches(node, probe)) {
            return node;
        }
    }
    return nullptr;
}

} // namespace

Result<DeviceSpec> parseMediaChange(std::string_view text, bool live) {
    auto parsed = xml::Document::parse(text, 1024 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    std::string element(xml::name(parsed.value().root()));
    if (element != "disk") {
        return updateRefused(live, "device '" + element + "'");
    }
    auto spec = parseDeviceXml(text);
    if (!spec) {
        return spec.takeError();
    }
    if (!hasRemovableMedia(spec.value().disk)) {
        return updateRefused(live, "disk '" + spec.value().disk.targetDev +
                                       "': only the media of a cdrom or floppy can change");
    }
    return spec;
}

Result<DomainXml> withMediaChanged(const DomainXml& domain, const DeviceSpec& device, bool live) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    auto snippet = xml::Document::parse(device.xml);
    if (!snippet) {
        return snippet.takeError();
    }
    const std::string& target = device.disk.targetDev;
    xml::Node old = diskWithTarget(devicesOf(doc.value()), target);
    if (old == nullptr) {
        return Error(Code::DeviceMissing, "no disk with target '" + target + "'");
    }
    auto current = detail::parseDisk(old);
    if (!current) {
        return current.takeError();
    }
    if (!hasRemovableMedia(current.value())) {
        return updateRefused(live, "disk '" + target +
                                       "': only the media of a cdrom or floppy can change");
    }
    if (current.value().bus != device.disk.bus) {
        return updateRefused(live, "disk '" + target + "': its bus cannot change");
    }
    // The new element in place of the old one, with the old one's address and alias when
    // it names none (virsh change-media sends what dumpxml showed, other tools less).
    xml::Node copy = xmlDocCopyNode(snippet.value().root(), doc.value().raw(), 1);
    for (const char* kept : {"address", "alias"}) {
        xml::Node was = xml::firstChild(old, kept);
        if (was != nullptr && xml::firstChild(copy, kept) == nullptr) {
            xmlAddChild(copy, xmlDocCopyNode(was, doc.value().raw(), 1));
        }
    }
    xmlReplaceNode(old, copy);
    xmlFreeNode(old);
    return detail::reparsedDomain(domain, doc.value());
}

Result<DomainXml> withDiskOverlay(const DomainXml& domain, const std::string& target,
                                  const std::string& overlay) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node disk = diskWithTarget(devicesOf(doc.value()), target);
    if (disk == nullptr) {
        return Error(Code::DeviceMissing, "no disk with target '" + target + "'");
    }
    xml::Node source = xml::firstChild(disk, "source");
    if (xml::attribute(disk, "type").value_or("file") != "file" || source == nullptr) {
        return Error(Code::ConfigUnsupported, "disk '" + target + "' is not a file disk");
    }
    xml::setAttribute(source, "file", overlay);
    xml::Node driver = xml::firstChild(disk, "driver");
    if (driver == nullptr) {
        driver = xml::prependChild(disk, "driver");
        xml::setAttribute(driver, "name", "qemu");
    }
    xml::setAttribute(driver, "type", "qcow2");
    while (xml::Node backing = xml::firstChild(disk, "backingStore")) {
        xml::removeNode(backing);
    }
    return detail::reparsedDomain(domain, doc.value());
}

Result<DomainXml> withAlias(const DomainXml& domain, const std::string& element, size_t index,
                            const std::string& alias) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    auto nodes = xml::children(devicesOf(doc.value()), element.c_str());
    if (index >= nodes.size()) {
        return Error(Code::Internal, "no " + element + " #" + std::to_string(index));
    }
    xml::Node existing = xml::firstChild(nodes[index], "alias");
    xml::setAttribute(existing ? existing : xml::appendChild(nodes[index], "alias"), "name", alias);
    DomainXml out = domain;
    out.xml = doc.value().serialize();
    return out;
}

Result<DomainXml> withInterfaceTarget(const DomainXml& domain, size_t index,
                                      const std::string& hostDevice) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    auto nodes = xml::children(devicesOf(doc.value()), "interface");
    if (index >= nodes.size()) {
        return Error(Code::Internal, "no interface #" + std::to_string(index));
    }
    xml::Node existing = xml::firstChild(nodes[index], "target");
    xml::setAttribute(existing ? existing : xml::appendChild(nodes[index], "target"), "dev",
                      hostDevice);
    return parseDomainXml(doc.value().serialize());
}

std::string aliasOf(const DomainXml& domain, const DeviceSpec& device) {
    auto doc = xml::Document::parse(domain.xml);
    if (!doc) {
        return {};
    }
    xml::Node devices = xml::firstChild(doc.value().root(), "devices");
    if (devices == nullptr) {
        return {};
    }
    for (xml::Node node : xml::children(devices)) {
        if (matches(node, device)) {
            xml::Node alias = xml::firstChild(node, "alias");
            return alias ? xml::attribute(alias, "name").value_or("") : "";
        }
    }
    return {};
}

} // namespace virtswarm
