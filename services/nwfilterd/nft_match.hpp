// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/nwfilter_def.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace virtswarm::nwfilter {

// The nftables match (bridge family) for a protocol element whose attribute values are
// all literal and checked (variables already replaced): "ether type ip ip saddr
// 10.0.0.2 ip protocol udp th sport 68". Attribute values are packet fields as written:
// src* is the frame's source whatever the rule's direction. Errors: ConfigUnsupported for
// what has no stateless nftables form here (connection state and limits, ipsets, STP
// BPDU fields, gratuitous ARP, IPv4 masks that are not prefixes).
Result<std::string> nftMatch(std::string_view protocol, const std::vector<Attribute>& attributes);

// What selects the frames of a sub-chain's protocol ("ether type arp"; "" for mac).
std::string chainProtocolMatch(std::string_view chainProtocol);

// The verdict of a rule's action. Bridges cannot answer with an ICMP error from
// prerouting, so reject drops, as libvirt's ebtables rules do.
std::string nftVerdict(Action action);

} // namespace virtswarm::nwfilter
