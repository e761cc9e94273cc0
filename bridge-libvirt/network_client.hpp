// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "network_cache.hpp"
#include "object_client.hpp"
#include "remote_types.hpp"

#include <string>
#include <vector>

// The bridge's side of virtswarm-networkd (org.virtswarm.Network1, system bus): the network
// cache and Manager.NetworkEvent (ObjectClient), and networkd's methods beyond every kind's,
// called asynchronously with timeouts. Nothing is asked of networkd (nor is it activated)
// until a client uses a network procedure.
namespace virtswarm::bridge {

class NetworkClient : private OwnedService, public ObjectClient<NetworkKind> {
public:
    NetworkClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches; the cache is filled on first use.
    Result<void> start() { return ownService.start(false); }

    // Network.Start, Stop, Undefine.
    void start(const std::string& path, Done done);
    void stop(const std::string& path, Done done);
    void undefine(const std::string& path, Done done);
    // Network.GetDHCPLeases, optionally only those of one MAC address.
    void getDhcpLeases(const std::string& path, const std::string& mac,
                       Then<std::vector<DhcpLease>> done);
    // Manager.ListHostInterfaces: the host's interfaces, asked afresh each time.
    void listHostInterfaces(Then<std::vector<HostInterfaceWire>> done);
};

// One lease of Network.GetDHCPLeases (a{sv}) as libvirt's struct; missing or mistyped keys
// stay empty.
DhcpLease leaseFromProperties(const PropertyMap& lease);

} // namespace virtswarm::bridge
