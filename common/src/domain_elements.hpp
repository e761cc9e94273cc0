// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Parsers of single device elements, shared by the domain parser and device hotplug.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::detail {

Result<DiskDef> parseDisk(xml::Node node);
// May add a generated <mac> to the element.
Result<InterfaceDef> parseInterface(xml::Node node);

} // namespace virtswarm::detail
