// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"
#include "virtswarm/xml.hpp"

#include <string>
#include <string_view>

namespace virtswarm::detail {

// The <uuid> of a libvirt definition (domain, network). Without one, a new UUID is made
// and written right after <name>, where libvirt and humans expect it. A malformed one, the
// all-zero one (libvirt's "no UUID") or a second <uuid> is InvalidXML.
Result<UuidBytes> takeOrAddUuid(xml::Node root, xml::Node nameNode);

// The text of the one <name> of a definition (`kind`: "domain", "network"): a second
// <name> is InvalidXML, as is a name the daemons could not use as a file name: empty,
// longer than maxBytes, ".", "..", starting with '-' (read as an option by the tools the
// name reaches) or '.' (a hidden file), or holding '/' or a control character.
Result<std::string> takeName(xml::Node root, std::string_view kind, size_t maxBytes);

} // namespace virtswarm::detail
