// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/xml.hpp"

#include <string>

namespace virtswarm::nodedev {

// Builds one device's libvirt nodedev XML (formatnode.html):
// <device><name/><path/><parent/><driver><name/></driver><capability type=...>...
class DeviceXml {
public:
    DeviceXml(const std::string& name, const std::string& sysfsPath, const std::string& parent,
              const std::string& driver);

    // A <capability type='...'> of the device (or nested in `parent`).
    xml::Node capability(const std::string& type);
    xml::Node capability(xml::Node parent, const std::string& type);
    // <tag>text</tag> under `node`; nothing if text is empty.
    static xml::Node add(xml::Node node, const char* tag, const std::string& text);
    // <tag id='id'>name</tag>, as vendor and product.
    static void addId(xml::Node node, const char* tag, const std::string& id,
                      const std::string& name);

    std::string finish() const;

private:
    xml::Document m_doc;
};

} // namespace virtswarm::nodedev
