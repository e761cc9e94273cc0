// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What the QEMU guest agent reports, read from its untrusted JSON.
#include "virtswarm/result.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace virtswarm {

struct GuestAddress {
    std::string type; // ipv4 | ipv6
    std::string address;
    uint32_t prefix = 0;
};

struct GuestInterface {
    std::string name;
    std::string hardwareAddress; // may be empty (lo on some guests)
    std::vector<GuestAddress> addresses;
};

// The reply of guest-network-get-interfaces. The guest is not trusted: a malformed
// reply is OperationFailed, and at most 1024 interfaces of 1024 addresses are taken.
Result<std::vector<GuestInterface>> parseGuestInterfaces(const nlohmann::json& reply);

} // namespace virtswarm
