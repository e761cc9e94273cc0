// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "network_cache.hpp"
#include "remote_types.hpp"
#include "service_client.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

// The bridge's side of virtswarm-networkd (org.virtswarm.Network1, system bus): its methods,
// called asynchronously with timeouts; the network cache, following networkd's
// ObjectManager and PropertiesChanged; Manager.NetworkEvent handed to the event forwarder.
// Nothing is asked of networkd (nor is it activated) until a client uses a network
// procedure.
namespace virtswarm::bridge {

// Manager.NetworkEvent (virNetworkEventLifecycleType).
struct NetworkEventSignal : LifecycleSignal {};

class NetworkClient {
public:
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    static constexpr std::chrono::milliseconds kCallTimeout = ServiceClient::kCallTimeout;

    NetworkClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches; the cache is filled on first use.
    Result<void> start() { return m_service.start(false); }

    void setEventHandler(std::function<void(const NetworkEventSignal&)> handler) {
        m_onEvent = std::move(handler);
    }

    const NetworkCache& cache() const { return m_cache; }
    // Runs `then` once the cache mirrors networkd (activating it if needed).
    void whenSynced(Done then) { m_service.whenSynced(std::move(then)); }

    // Manager.DefineXML / CreateXML: the new network's object path.
    void defineXml(const std::string& xml, Then<std::string> done);
    void createXml(const std::string& xml, Then<std::string> done);
    // Network.Start, Stop, Undefine.
    void start(const std::string& path, Done done);
    void stop(const std::string& path, Done done);
    void undefine(const std::string& path, Done done);
    void getXml(const std::string& path, bool inactive, Then<std::string> done);
    void setAutostart(const std::string& path, bool autostart, Done done);
    // Network.GetDHCPLeases, optionally only those of one MAC address.
    void getDhcpLeases(const std::string& path, const std::string& mac,
                       Then<std::vector<DhcpLease>> done);

private:
    void onManagerSignal(const std::string& member, sdbus::Message& message);
    void action(const std::string& path, const char* method, Done done);

    NetworkCache m_cache;
    ServiceClient m_service;
    std::function<void(const NetworkEventSignal&)> m_onEvent;
};

// One lease of Network.GetDHCPLeases (a{sv}) as libvirt's struct; missing or mistyped keys
// stay empty.
DhcpLease leaseFromProperties(const PropertyMap& lease);

} // namespace virtswarm::bridge
