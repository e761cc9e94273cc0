// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string_view>
#include <vector>

namespace virtswarm::nwfilter {

struct StandardFilter {
    std::string_view name;
    std::string_view xml; // without <uuid>: one is made when it is installed
};

// The filters libvirt ships (clean-traffic and the filters it is built of, allow-dhcp,
// allow-arp, ...), written from their documented behaviour (docs/nwfilter.md lists what
// each does). Ordered so that a filter comes after every filter it references.
const std::vector<StandardFilter>& standardFilters();

} // namespace virtswarm::nwfilter
