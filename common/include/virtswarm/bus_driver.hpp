// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <optional>
#include <string>

namespace sdbus {
class Message;
}

namespace virtswarm {

// The bus driver's well-known name: the sender of the bus's own signals.
inline constexpr const char* kBusDriverName = "org.freedesktop.DBus";

struct NameOwnerChange {
    std::string name;
    std::string oldOwner; // empty: the name had no owner
    std::string newOwner; // empty: the name has no owner any more
};

// The NameOwnerChanged signal `message`, if the bus driver itself sent it. A match that
// names the driver as sender still gets signals that anyone sent straight to our unique
// name (sd-bus delivers them): such a forged one is ignored (nullopt), as is a malformed
// one.
std::optional<NameOwnerChange> nameOwnerChangeFromBusDriver(sdbus::Message& message);

} // namespace virtswarm
