// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "object_family.hpp"
#include "protocol.hpp"
#include "remote_types.hpp"
#include "virtswarm/error.hpp"
#include "virtswarm/names.hpp"

#include <cstdint>
#include <string>

// The bridge's copy of networkd's networks (org.virtswarm.Network1.Network objects).
// net-list, net-info and the lookups are answered from it without a D-Bus round trip.
namespace virtswarm::bridge {

struct CachedNetwork : CachedObject {
    bool active = false;
    bool persistent = false;
    bool autostart = false;
    std::string bridge;
};

class NetworkCache;

// Where networks live on the bus, what the bridge mirrors of them (object_client.hpp) and
// how libvirt's procedures name them (proc_object_family.hpp).
struct NetworkKind {
    using Object = CachedNetwork;
    using Cache = NetworkCache;
    static constexpr ObjectBus kBus =
        ObjectBus(names::kNetworkBusName, names::kNetworkRootPath, names::kNetworkManagerInterface,
                  names::kNetworkInterface, "NetworkEvent", "the network daemon");
    static constexpr auto kProperties =
        std::make_tuple(mirrored("Active", &CachedNetwork::active),
                        mirrored("Persistent", &CachedNetwork::persistent),
                        mirrored("Autostart", &CachedNetwork::autostart),
                        mirrored("Bridge", &CachedNetwork::bridge));

    using Remote = RemoteNetwork;
    // virNetworkXMLFlags: VIR_NETWORK_XML_INACTIVE 1; no secrets
    static constexpr ObjectWire kWire =
        ObjectWire("network", Code::NoSuchNetwork, "network", proto::kNetworkListMax, 1, 0, {});
    static constexpr ObjectFamily kFamily = ObjectFamily(
        "Network", "Networks", proto::NetworkLookupByName, proto::NetworkLookupByUuid,
        proto::ConnectListAllNetworks, proto::ConnectNumOfNetworks,
        proto::ConnectNumOfDefinedNetworks, proto::ConnectListNetworks,
        proto::ConnectListDefinedNetworks, proto::NetworkIsActive, proto::NetworkIsPersistent,
        proto::NetworkGetAutostart, proto::NetworkSetAutostart, proto::NetworkGetXmlDesc);

    static bool isActive(const CachedNetwork& n) { return n.active; }
    static Remote remote(const CachedNetwork& n) { return RemoteNetwork{n.name, n.uuid}; }
    static Remote read(xdr::Reader& r) { return readNetwork(r); }
    static void write(xdr::Writer& w, const Remote& n) { writeNetwork(w, n); }
    static bool matches(const CachedNetwork& n, uint32_t flags);
    // The legacy lists name networks, active or not.
    static void writeListed(xdr::Writer& w, const CachedNetwork& n, bool) { w.string(n.name); }
};

// Manager.NetworkEvent (virNetworkEventLifecycleType).
using NetworkEventSignal = KindEvent<NetworkKind>;

class NetworkCache : public ObjectCache<NetworkKind> {
public:
    inline static const std::string kNetworkInterface = NetworkKind::kBus.interface;
};

// virConnectListAllNetworksFlags applied to one network: in each pair of flags, none set
// means "either".
bool matchesNetworkListFlags(const CachedNetwork& network, uint32_t flags);

inline bool NetworkKind::matches(const CachedNetwork& n, uint32_t flags) {
    return matchesNetworkListFlags(n, flags);
}

} // namespace virtswarm::bridge
