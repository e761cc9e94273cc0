// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace virtswarm::nwfilter {

// The bytes of a MAC address; nullopt when `mac` is not "xx:xx:xx:xx:xx:xx".
using MacBytes = std::array<uint8_t, 6>;
std::optional<MacBytes> macBytes(const std::string& mac);

// Fields of packet bytes the caller has checked are there.
uint16_t be16(const uint8_t* p);
uint32_t be32(const uint8_t* p);
std::string dottedIpv4(const uint8_t* p);

inline constexpr size_t kEthernetHeader = 14;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;

// Whether an IPv4 address (host order) can be a guest's own: not 0.0.0.0, not multicast
// (224.0.0.0/4), not class E (240.0.0.0/4, which holds the broadcast 255.255.255.255), as
// libvirt's learner skips them.
bool guestAddressUsable(uint32_t address);

// CTRL_IP_LEARNING=any: the IPv4 address an untagged Ethernet frame the guest sent shows it
// uses: the sender address of an ARP request or reply (Ethernet/IPv4, sender MAC `mac`) or
// the source address of an IPv4 packet, when the frame's source MAC is `mac` and the address
// is usable (an ARP probe's 0.0.0.0 is not). `length` is the bytes captured, from the
// destination MAC on: headers are read only where they were captured (every offset checked),
// the payload need not be there. Anything else, a truncated or malformed header above all,
// is nullopt.
std::optional<std::string> parseGuestAddress(const uint8_t* frame, size_t length,
                                             const MacBytes& mac);

} // namespace virtswarm::nwfilter
