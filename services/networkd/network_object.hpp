// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/network_def.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Network1.Network_adaptor.h>

namespace virtswarm::network {

class NetworkRegistry;

// One virtual network on the bus. Start creates its bridge, addresses, dnsmasq and
// firewall rules; Stop removes them. Methods authorize with polkit before acting.
class NetworkObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Network1::Network_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    // Made by NetworkRegistry::add, which announces it on the bus.
    NetworkObject(NetworkRegistry& registry, const std::string& path, NetworkXml network,
                  bool persistent);
    ~NetworkObject();

    const NetworkDef& def() const { return m_network.def; }
    const NetworkXml& network() const { return m_network; }
    std::string uuidText() const { return formatUuid(m_network.def.uuid); }
    bool active() const { return m_active; }
    bool persistent() const { return m_persistent; }
    bool autostart() const { return m_autostart; }
    void setAutostartFlag(bool autostart) { m_autostart = autostart; }
    void makePersistent();
    // DefineXML on an existing network: applies now if inactive, at the next start if not.
    void redefine(NetworkXml network);

    void start(std::function<void(Result<void>)> done);
    void stop(std::function<void(Result<void>)> done);
    // A network found active at start-up (bridge present): take it over as it is.
    void adoptActive(std::function<void()> done);

    Lifetime::Guard lifetimeGuard() const { return m_lifetime.guard(); }

private:
    void Start(sdbus::Result<>&& result, Options options) override;
    void Stop(sdbus::Result<>&& result, Options options) override;
    void Undefine(sdbus::Result<>&& result, Options options) override;
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) override;
    void GetDHCPLeases(sdbus::Result<std::vector<Options>>&& result, Options options) override;
    std::string Name() override { return m_network.def.name; }
    std::string UUID() override { return uuidText(); }
    bool Active() override { return m_active; }
    bool Persistent() override { return m_persistent; }
    bool Autostart() override { return m_autostart; }
    std::string Bridge() override { return m_network.def.bridge; }

    void setActive(bool active);

    // Active's change announced: PropertiesChanged and the lifecycle event.
    void announceActive();
    // The definition in use changed (redefinition, or the one waiting for a stop).
    void replaceDefinition(NetworkXml network);
    void teardown();
    void afterStop();

    NetworkRegistry& m_registry;
    NetworkXml m_network;
    std::optional<NetworkXml> m_nextDefinition;
    bool m_persistent;
    bool m_autostart = false;
    bool m_active = false;
    bool m_busy = false; // a Start or Stop is in progress
    Lifetime m_lifetime;
    service::MethodGate m_gate;
};

} // namespace virtswarm::network
