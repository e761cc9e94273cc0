// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/network_def.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace virtswarm::network {

class NetworkRegistry;

// The environment variable that turns provisioning of the `default` network on ("yes",
// the default on the system bus) or off ("no").
inline constexpr const char* kDefaultNetworkEnv = "VIRTSWARM_DEFAULT_NETWORK";

// Whether this networkd provisions the `default` network: only on the system bus, unless
// `envValue` (the variable's value, or null) says "no". Any other value is InvalidArgs.
Result<bool> defaultNetworkWanted(BusMode mode, const char* envValue);

// The third octet of the first 192.168.<n>.0/24, n from 122 up (libvirt's pick), that
// overlaps none of `taken`; nullopt when all are taken.
std::optional<unsigned> pickDefaultSubnet(const std::vector<IpDef>& taken);

// libvirt's default network on 192.168.<octet>.0/24: NAT, the gateway at .1, DHCP for
// .2 to .254. The bridge name is left for the registry to allocate.
std::string defaultNetworkXml(unsigned octet);

// Run once per host, as libvirt-daemon-config-network's postinst: unless the marker in
// the state directory says it was done, defines `default` on a free subnet (host routes,
// host addresses and the other networks all count) with autostart on, then writes the
// marker, so that an admin's undefine sticks across restarts. A network already named
// `default` is kept as it is. Called before the autostart pass, which starts it.
void provisionDefaultNetwork(NetworkRegistry& registry, BusMode mode);

} // namespace virtswarm::network
