// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::detail {

// The <uuid> of a libvirt definition (domain, network). Without one, a new UUID is made
// and written right after <name>, where libvirt and humans expect it. A malformed one is
// InvalidXML.
Result<UuidBytes> takeOrAddUuid(xml::Node root, xml::Node nameNode);

} // namespace virtswarm::detail
