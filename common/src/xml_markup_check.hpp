// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string_view>

namespace virtswarm::xml::detail {

// Refuses, by a single linear scan of the raw text and before any parser sees it, what
// libvirt's formats never use and what makes a small document cost gigabytes: a DOCTYPE
// (and with it any entity declaration) and any entity reference other than the five
// predefined ones and character references. Also refuses NUL bytes, so a UTF-16 or
// UTF-32 document cannot hide its markup from this scan. InvalidXML naming the problem.
Result<void> refuseEntities(std::string_view text);

} // namespace virtswarm::xml::detail
