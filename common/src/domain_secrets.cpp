// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm {

std::string withoutSecrets(const std::string& xmlText) {
    auto parsed = xml::Document::parse(xmlText);
    if (!parsed) {
        // Only definitions that parsed once reach here; should one not, show nothing
        // rather than a password.
        return {};
    }
    xml::Node devices = xml::firstChild(parsed.value().root(), "devices");
    if (devices == nullptr) {
        return xmlText;
    }
    bool changed = false;
    for (xml::Node graphics : xml::children(devices, "graphics")) {
        if (xml::attribute(graphics, "passwd")) {
            xml::removeAttribute(graphics, "passwd");
            changed = true;
        }
    }
    return changed ? parsed.value().serialize() : xmlText;
}

} // namespace virtswarm
