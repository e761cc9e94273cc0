// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "guest_frame.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace virtswarm::nwfilter {

// What a DHCPACK tells about a guest: the address it may use, for how long, and who said so.
struct DhcpLease {
    std::string address;  // yiaddr, dotted IPv4
    std::string server;   // option 54 (server identifier), or the packet's source address
    uint32_t seconds = 0; // option 51; 0xffffffff is "infinite"
};

// A DHCPACK for the client `mac` in an IPv4 packet of `length` bytes (from
// its IP header on, as an AF_PACKET datagram socket delivers it). Anything else: a request,
// an offer, another client's answer, a truncated or malformed packet, is nullopt. Every
// offset is checked against `length`: the bytes come from a guest's segment.
std::optional<DhcpLease> parseDhcpAck(const uint8_t* packet, size_t length, const MacBytes& mac);

} // namespace virtswarm::nwfilter
