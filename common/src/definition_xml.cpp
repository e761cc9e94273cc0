// SPDX-License-Identifier: LGPL-2.1-or-later
#include "definition_xml.hpp"

namespace virtswarm::detail {

Result<UuidBytes> takeOrAddUuid(xml::Node root, xml::Node nameNode) {
    if (auto uuidNode = xml::firstChild(root, "uuid")) {
        auto uuid = parseUuid(xml::text(uuidNode));
        if (!uuid) {
            return Error(Code::InvalidXML, "invalid <uuid> '" + xml::text(uuidNode) + "'");
        }
        return uuid.value();
    }
    UuidBytes uuid = randomUuid();
    xml::insertAfter(nameNode, "uuid", formatUuid(uuid));
    return uuid;
}

} // namespace virtswarm::detail
