// SPDX-License-Identifier: LGPL-2.1-or-later
#include "definition_xml.hpp"

#include <algorithm>

namespace virtswarm::detail {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}

Result<void> checkName(const std::string& name, std::string_view kind, size_t maxBytes) {
    std::string what = std::string(kind) + " name";
    if (name.empty()) {
        // libvirt reads an empty <name/> as no name at all: both are NO_NAME.
        return Error(Code::MissingName, std::string(kind) + " <name> is missing or empty");
    }
    if (name.size() > maxBytes) {
        return invalid(what + " is longer than " + std::to_string(maxBytes) + " bytes");
    }
    if (name == "." || name == "..") {
        return invalid(what + " '" + name + "' is not allowed");
    }
    if (name[0] == '-' || name[0] == '.') {
        return invalid(what + " '" + name + "' must not start with '" + name[0] + "'");
    }
    for (unsigned char c : name) {
        if (c == '/' || c < 0x20 || c == 0x7f) {
            return invalid(what + " contains '/' or a control character");
        }
    }
    return success();
}

} // namespace

Result<UuidBytes> takeOrAddUuid(xml::Node root, xml::Node nameNode) {
    auto uuidNodes = xml::children(root, "uuid");
    if (uuidNodes.size() > 1) {
        return invalid("more than one <uuid> element");
    }
    if (!uuidNodes.empty()) {
        xml::Node uuidNode = uuidNodes.front();
        auto uuid = parseUuid(xml::text(uuidNode));
        if (!uuid) {
            return invalid("invalid <uuid> '" + xml::text(uuidNode) + "'");
        }
        const UuidBytes& bytes = uuid.value();
        if (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; })) {
            return invalid("the all-zero <uuid> is not allowed");
        }
        return uuid.value();
    }
    UuidBytes uuid = randomUuid();
    xml::insertAfter(nameNode, "uuid", formatUuid(uuid));
    return uuid;
}

Result<std::string> takeName(xml::Node root, std::string_view kind, size_t maxBytes) {
    auto nameNodes = xml::children(root, "name");
    if (nameNodes.size() > 1) {
        return invalid("more than one <name> element");
    }
    std::string name = nameNodes.empty() ? "" : xml::text(nameNodes.front());
    if (auto r = checkName(name, kind, maxBytes); !r) {
        return r.takeError();
    }
    return name;
}

} // namespace virtswarm::detail
