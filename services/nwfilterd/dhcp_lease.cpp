// SPDX-License-Identifier: LGPL-2.1-or-later
#include "dhcp_lease.hpp"

#include <algorithm>
#include <cstring>
#include <netinet/in.h>

namespace virtswarm::nwfilter {
namespace {

constexpr size_t kUdpHeader = 8;
constexpr size_t kBootpFixed = 236; // op .. file, before the magic cookie
constexpr size_t kChaddrAt = 28;
constexpr size_t kYiaddrAt = 16;
constexpr uint8_t kMagic[4] = {99, 130, 83, 99};
constexpr uint8_t kOptionPad = 0, kOptionEnd = 255, kOptionLease = 51, kOptionType = 53,
                  kOptionServer = 54;
constexpr uint8_t kDhcpAck = 5;

} // namespace

std::optional<DhcpLease> parseDhcpAck(const uint8_t* packet, size_t length, const MacBytes& mac) {
    if (length < 20 || packet[0] >> 4 != 4 || packet[9] != IPPROTO_UDP ||
        (be16(packet + 6) & 0x1fff) != 0) {
        return std::nullopt; // not IPv4 UDP, or a fragment after the first
    }
    size_t ipHeader = size_t{packet[0] & 0x0fu} * 4;
    size_t total = be16(packet + 2);
    if (ipHeader < 20 || total > length || total < ipHeader + kUdpHeader) {
        return std::nullopt;
    }
    const uint8_t* udp = packet + ipHeader;
    if (be16(udp) != 67 || be16(udp + 2) != 68) {
        return std::nullopt;
    }
    const uint8_t* bootp = udp + kUdpHeader;
    size_t size = total - ipHeader - kUdpHeader;
    if (size < kBootpFixed + sizeof kMagic || bootp[0] != 2 /* BOOTREPLY */ ||
        bootp[1] != 1 /* Ethernet */ || bootp[2] != 6 ||
        !std::equal(mac.begin(), mac.end(), bootp + kChaddrAt) ||
        std::memcmp(bootp + kBootpFixed, kMagic, sizeof kMagic) != 0) {
        return std::nullopt;
    }
    DhcpLease lease;
    lease.address = dottedIpv4(bootp + kYiaddrAt);
    lease.server = dottedIpv4(packet + 12);
    bool ack = false, timed = false;
    for (size_t at = kBootpFixed + sizeof kMagic; at < size;) {
        uint8_t code = bootp[at];
        if (code == kOptionEnd) {
            break;
        }
        if (code == kOptionPad) {
            ++at;
            continue;
        }
        if (at + 2 > size || at + 2 + bootp[at + 1] > size) {
            return std::nullopt; // an option runs past the packet
        }
        const uint8_t* value = bootp + at + 2;
        uint8_t len = bootp[at + 1];
        if (code == kOptionType && len == 1) {
            ack = value[0] == kDhcpAck;
        } else if (code == kOptionLease && len == 4) {
            lease.seconds = be32(value);
            timed = true;
        } else if (code == kOptionServer && len == 4) {
            lease.server = dottedIpv4(value);
        }
        at += 2 + size_t{len};
    }
    if (!ack || !timed || lease.address == "0.0.0.0") {
        return std::nullopt;
    }
    return lease;
}

} // namespace virtswarm::nwfilter
