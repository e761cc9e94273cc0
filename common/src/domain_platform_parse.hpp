// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Parsers of the platform elements of a domain (see virtswarm/domain_platform.hpp).
#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::detail {

// Validates the machine type and reads <os> firmware, <cpu>, <features>, <clock>, <pm>
// and the on_* actions of the <domain> root into def.platform. Errors: InvalidXML for bad
// values, NotSupported naming the element and value that cannot be run.
Result<void> parsePlatform(xml::Node root, DomainDef& def);

// One <controller>, <input>, <memballoon> element.
Result<ControllerDef> parseController(xml::Node node);
Result<InputDef> parseInput(xml::Node node);
Result<MemballoonDef> parseMemballoon(xml::Node node);

// Numbers the controllers that have no index= the way libvirt does: the lowest index not
// yet used by a controller of the same type, in document order, the PCI root first.
void assignControllerIndexes(DomainDef& def);

// Checks the controllers as a whole against the machine type and the disks and inputs
// that use them (a pcie-root on pc, two controllers with one index, a disk on a bus with
// no controller of that kind, a USB input with usb model='none').
Result<void> checkControllers(const DomainDef& def);

} // namespace virtswarm::detail
