// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_xml.hpp"

#include "node_device.hpp"

namespace virtswarm::nodedev {

std::string deviceName(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) {
        if (part.empty()) {
            continue;
        }
        if (!out.empty()) {
            out += '_';
        }
        for (char c : part) {
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            out += alnum ? c : '_';
        }
    }
    return out;
}

DeviceXml::DeviceXml(const std::string& name, const std::string& sysfsPath,
                     const std::string& parent, const std::string& driver)
    : m_doc(xml::Document::parse("<device/>").value()) {
    xml::Node root = m_doc.root();
    xml::appendChild(root, "name", name);
    add(root, "path", sysfsPath);
    add(root, "parent", parent);
    if (!driver.empty()) {
        xml::appendChild(xml::appendChild(root, "driver"), "name", driver);
    }
}

xml::Node DeviceXml::capability(const std::string& type) {
    return capability(m_doc.root(), type);
}

xml::Node DeviceXml::capability(xml::Node parent, const std::string& type) {
    xml::Node node = xml::appendChild(parent, "capability");
    xml::setAttribute(node, "type", type);
    return node;
}

xml::Node DeviceXml::add(xml::Node node, const char* tag, const std::string& text) {
    return text.empty() ? nullptr : xml::appendChild(node, tag, text);
}

void DeviceXml::addId(xml::Node node, const char* tag, const std::string& id,
                      const std::string& name) {
    xml::Node child = xml::appendChild(node, tag, name);
    xml::setAttribute(child, "id", id);
}

std::string DeviceXml::finish() const {
    return m_doc.serialize();
}

} // namespace virtswarm::nodedev
