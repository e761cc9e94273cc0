// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guest_frame.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>

namespace virtswarm::nwfilter {
namespace {

constexpr size_t kArpBody = 28; // Ethernet/IPv4 ARP: fixed fields, 2 MACs, 2 addresses
constexpr size_t kArpSenderMac = 8;
constexpr size_t kArpSenderIp = 14;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv4Source = 12;
constexpr uint16_t kArpRequest = 1, kArpReply = 2;

std::optional<std::string> usable(const uint8_t* address) {
    if (!guestAddressUsable(be32(address))) {
        return std::nullopt;
    }
    return dottedIpv4(address);
}

std::optional<std::string> arpSender(const uint8_t* arp, size_t length, const MacBytes& mac) {
    if (length < kArpBody || be16(arp) != 1 /* Ethernet */ || be16(arp + 2) != kEtherTypeIpv4 ||
        arp[4] != 6 || arp[5] != 4 ||
        (be16(arp + 6) != kArpRequest && be16(arp + 6) != kArpReply) ||
        !std::equal(mac.begin(), mac.end(), arp + kArpSenderMac)) {
        return std::nullopt;
    }
    return usable(arp + kArpSenderIp);
}

std::optional<std::string> ipv4Source(const uint8_t* ip, size_t length) {
    if (length < kIpv4MinHeader || ip[0] >> 4 != 4) {
        return std::nullopt;
    }
    size_t header = size_t{ip[0] & 0x0fu} * 4;
    if (header < kIpv4MinHeader || header > length || be16(ip + 2) < header) {
        return std::nullopt; // a header shorter than its minimum, cut off, or longer than the
                             // packet
    }
    return usable(ip + kIpv4Source);
}

} // namespace

std::optional<MacBytes> macBytes(const std::string& mac) {
    unsigned b[6];
    char end = 0;
    if (mac.size() != 17 || std::sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
                                        &b[2], &b[3], &b[4], &b[5], &end) != 6) {
        return std::nullopt;
    }
    MacBytes out;
    std::copy(b, b + 6, out.begin());
    return out;
}

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

std::string dottedIpv4(const uint8_t* p) {
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, p, text, sizeof text);
    return text;
}

bool guestAddressUsable(uint32_t address) {
    return address != 0 && (address & 0xe0000000u) != 0xe0000000u;
}

std::optional<std::string> parseGuestAddress(const uint8_t* frame, size_t length,
                                             const MacBytes& mac) {
    if (length < kEthernetHeader || !std::equal(mac.begin(), mac.end(), frame + 6)) {
        return std::nullopt;
    }
    const uint8_t* payload = frame + kEthernetHeader;
    size_t rest = length - kEthernetHeader;
    switch (be16(frame + 12)) {
    case kEtherTypeArp:
        return arpSender(payload, rest, mac);
    case kEtherTypeIpv4:
        return ipv4Source(payload, rest);
    default:
        return std::nullopt; // IPv6 is not learned; a VLAN tag is not looked behind
    }
}

} // namespace virtswarm::nwfilter
