// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/mdev_def.hpp"

#include "parse_util.hpp"
#include "virtswarm/uuid.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm {

using detail::invalidXml;
using detail::notSupported;

namespace {

// The <capability> of `type` directly under <device>, or null.
xml::Node capabilityOf(xml::Node device, const char* type) {
    for (xml::Node cap : xml::children(device, "capability")) {
        if (xml::attribute(cap, "type").value_or("") == type) {
            return cap;
        }
    }
    return nullptr;
}

} // namespace

Result<MdevRequest> parseMdevRequest(std::string_view text) {
    auto doc = xml::Document::parse(text);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node device = doc.value().root();
    if (xml::name(device) != "device") {
        return invalidXml("expecting <device> as the root element, not <" +
                          std::string(xml::name(device)) + ">");
    }
    xml::Node mdev = capabilityOf(device, "mdev");
    if (mdev == nullptr) {
        if (capabilityOf(device, "scsi_host") != nullptr) {
            return notSupported("creating a vHBA (scsi_host) is not supported");
        }
        return invalidXml("Unsupported device type");
    }
    MdevRequest request;
    xml::Node parent = xml::firstChild(device, "parent");
    request.parent = parent != nullptr ? xml::text(parent) : "";
    if (request.parent.empty()) {
        return invalidXml("a mediated device needs its <parent> device");
    }
    xml::Node type = xml::firstChild(mdev, "type");
    request.type = type != nullptr ? xml::attribute(type, "id").value_or("") : "";
    if (request.type.empty()) {
        return invalidXml("missing type id attribute for mediated device");
    }
    if (xml::firstChild(mdev, "attr") != nullptr) {
        return notSupported("vendor attributes (<attr>) of a mediated device are not supported");
    }
    if (xml::Node uuid = xml::firstChild(mdev, "uuid"); uuid != nullptr) {
        auto parsed = parseUuid(xml::text(uuid));
        if (!parsed) {
            return invalidXml("malformed uuid element '" + xml::text(uuid) + "'");
        }
        request.uuid = formatUuid(parsed.value());
    }
    return request;
}

} // namespace virtswarm
