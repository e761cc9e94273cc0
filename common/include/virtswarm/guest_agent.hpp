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

// A time as libvirt's virDomainGetTime gives it: seconds since the epoch and nanoseconds.
struct GuestTime {
    int64_t seconds = 0;
    uint32_t nseconds = 0;
};

// The reply of guest-get-time (nanoseconds since the epoch). OperationFailed when it is
// not a non-negative integer.
Result<GuestTime> parseGuestTime(const nlohmann::json& reply);
// guest-set-time's "time" argument (nanoseconds since the epoch). InvalidArgs for
// nseconds above 999999999 or a time before the epoch or beyond what nanoseconds in
// 64 bits hold, as libvirt refuses them.
Result<int64_t> guestTimeArgument(const GuestTime& time);

// The reply of guest-get-host-name: {"host-name": "..."}, at most 255 bytes with no
// control characters. OperationFailed otherwise.
Result<std::string> parseGuestHostname(const nlohmann::json& reply);

} // namespace virtswarm
