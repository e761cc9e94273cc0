// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/bus_driver.hpp"

#include "virtswarm/log.hpp"

#include <sdbus-c++/sdbus-c++.h>

namespace virtswarm {

std::optional<NameOwnerChange> nameOwnerChangeFromBusDriver(sdbus::Message& message) {
    if (message.getSender() != kBusDriverName) {
        log::debug("ignoring a NameOwnerChanged sent by " + message.getSender());
        return std::nullopt;
    }
    NameOwnerChange change;
    try {
        message >> change.name >> change.oldOwner >> change.newOwner;
    } catch (const sdbus::Error&) {
        return std::nullopt;
    }
    return change;
}

} // namespace virtswarm
