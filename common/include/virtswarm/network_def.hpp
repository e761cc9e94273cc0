// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace virtswarm::network {

// The longest network name, in bytes (as before the name rules were shared with domains).
inline constexpr size_t kMaxNetworkNameBytes = 64;

struct DhcpRange {
    std::string start;
    std::string end;
};

struct DhcpHost {
    std::string mac;
    std::string ip;
    std::string name;
};

struct IpDef {
    int family = 4; // 4 or 6
    std::string address;
    unsigned prefix = 24;
    std::vector<DhcpRange> ranges;
    std::vector<DhcpHost> hosts;
};

struct DnsHost {
    std::string ip;
    std::vector<std::string> hostnames;
};

// The part of libvirt's network XML virtswarm acts on; the XML stays the definition of
// record (other elements are kept).
struct NetworkDef {
    std::string name;
    UuidBytes uuid{};
    // "" (isolated), "nat", "route", "open", or "bridge" (an existing host bridge).
    std::string forwardMode;
    std::string forwardDev;
    std::string bridge; // the bridge we create, or the host bridge to use in "bridge" mode
    bool stp = true;
    unsigned delay = 0;
    std::string mac; // of the bridge
    std::vector<IpDef> ips;
    std::vector<DnsHost> dnsHosts;
    std::string domainName;

    bool ownsBridge() const { return forwardMode != "bridge"; }
    bool runsDnsmasq() const { return ownsBridge() && !ips.empty(); }
};

struct NetworkXml {
    NetworkDef def;
    std::string xml;
};

// Errors: InvalidXML (malformed, inconsistent: DHCP range outside the subnet, bad
// addresses, ...), NotSupported (forward modes and elements virtswarm cannot run). A
// missing UUID or bridge MAC is generated and written into the XML; a missing bridge
// name is left empty for the registry to allocate (see withBridgeName).
Result<NetworkXml> parseNetworkXml(std::string_view text);
Result<NetworkXml> withBridgeName(const NetworkXml& network, const std::string& bridge);

// Do the two subnets share any address?
bool subnetsOverlap(const IpDef& a, const IpDef& b);

} // namespace virtswarm::network
