// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "links.hpp"
#include "virtswarm/definition_store.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/network_def.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::network {

class NetworkObject;

// libvirt's virNetworkEventLifecycleType, the `event` of the NetworkEvent signal.
enum NetworkEvent : int {
    kEventDefined = 0,
    kEventUndefined = 1,
    kEventStarted = 2,
    kEventStopped = 3
};

inline constexpr service::ObjectKind kNetworkKind{"network", names::kNetworkPathPrefix,
                                                  Code::NetworkExists, Code::NoSuchNetwork};

// networkd's model: every network, uniqueness of names, UUIDs, bridges and subnets, and
// the shared pieces (links, the firewall table, polkit, the store).
class NetworkRegistry {
public:
    NetworkRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                    DaemonPaths paths);
    ~NetworkRegistry();

    // Loads definitions, re-adopts networks left active by a previous networkd (their
    // bridges, dnsmasq processes and firewall table), provisions the `default` network on
    // a host that never had it, then starts autostart networks.
    void start(std::function<void()> ready);

    // Checks uniqueness and conflicts, allocates a bridge name if none is given.
    Result<NetworkXml> prepare(NetworkXml network, const NetworkObject* replacing) const;
    Result<NetworkObject*> add(NetworkXml network, bool persistent);
    // A persistent definition: a new network, or a new definition of the one with this
    // UUID and name. Saved before it is announced.
    Result<NetworkObject*> define(const NetworkXml& network);
    void remove(NetworkObject& network);
    // The network's definition changed: its name index follows.
    void renamed(const NetworkObject& network);

    NetworkObject* findByName(const std::string& name) const { return m_networks.findByName(name); }
    NetworkObject* findByUuid(const UuidBytes& uuid) const { return m_networks.findByUuid(uuid); }
    std::vector<NetworkObject*> all() const { return m_networks.all(); }
    const service::ObjectRegistry<NetworkObject>& networks() const { return m_networks; }
    // Another active network that would clash with `def` (same bridge, overlapping subnet).
    std::optional<Error> activeConflict(const NetworkDef& def) const;

    // Rewrites the whole firewall table for the active networks.
    void refreshFirewall(std::function<void(Result<void>)> done);
    void emitEvent(const NetworkObject& network, int event);
    void setEventEmitter(std::function<void(const NetworkObject&, int)> emitter) {
        m_emitEvent = std::move(emitter);
    }

    // The live definition of an active network, kept in the runtime dir so a restarted
    // networkd can re-adopt it (transient networks included).
    Result<void> recordActive(const NetworkXml& network);
    void forgetActive(const UuidBytes& uuid);

    sdbus::IConnection& connection() { return m_connection; }
    EventLoop& loop() { return m_loop; }
    Authority& authority() { return m_authority; }
    DefinitionStore& store() { return m_store; }
    Links& links() { return m_links; }
    const DaemonPaths& paths() const { return m_paths; }
    static std::string objectPathFor(const UuidBytes& uuid) {
        return service::objectPath(kNetworkKind.pathPrefix, uuid);
    }

private:
    // <runtime dir>/<runtimeKey>.xml
    std::string activeRecordPath(const UuidBytes& uuid) const;
    std::string allocateBridgeName() const;
    void readoptActive(std::function<void()> done);

    sdbus::IConnection& m_connection;
    EventLoop& m_loop;
    BusMode m_mode;
    DaemonPaths m_paths;
    Authority m_authority;
    DefinitionStore m_store;
    Links m_links;
    service::ObjectRegistry<NetworkObject> m_networks;
    std::function<void(const NetworkObject&, int)> m_emitEvent;
    bool m_firewallRunning = false;
    bool m_firewallDirty = false;
    std::vector<std::function<void(Result<void>)>> m_firewallWaiters;
};

} // namespace virtswarm::network
