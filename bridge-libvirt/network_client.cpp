// SPDX-License-Identifier: LGPL-2.1-or-later
#include "network_client.hpp"

namespace virtswarm::bridge {
namespace {

constexpr const char* kBusName = "org.virtswarm.Network1";
constexpr const char* kRootPath = "/org/virtswarm/Network1";
constexpr const char* kManagerInterface = "org.virtswarm.Network1.Manager";

} // namespace

DhcpLease leaseFromProperties(const PropertyMap& p) {
    DhcpLease lease;
    takeProperty(p, "iface", lease.iface);
    takeProperty(p, "expirytime", lease.expiryTime);
    takeProperty(p, "type", lease.type);
    takeProperty(p, "mac", lease.mac);
    takeProperty(p, "ipaddr", lease.ipaddr);
    takeProperty(p, "prefix", lease.prefix);
    takeProperty(p, "hostname", lease.hostname);
    takeProperty(p, "clientid", lease.clientId);
    return lease;
}

NetworkClient::NetworkClient(sdbus::IConnection& bus, EventLoop& loop)
    : m_service(bus, loop,
                ServiceNames{kBusName, kRootPath, kManagerInterface,
                             NetworkCache::kNetworkInterface, "the network daemon"},
                m_cache) {
    m_service.setSignalHandler(
        [this](const std::string& member, sdbus::Message& m) { onManagerSignal(member, m); });
}

void NetworkClient::onManagerSignal(const std::string& member, sdbus::Message& message) {
    if (auto signal = readLifecycleSignal(member, "NetworkEvent", message); signal && m_onEvent) {
        m_onEvent(NetworkEventSignal{*signal});
    }
}

void NetworkClient::defineXml(const std::string& xml, Then<std::string> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        kRootPath, kManagerInterface, "DefineXML", kCallTimeout,
        [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void NetworkClient::createXml(const std::string& xml, Then<std::string> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        kRootPath, kManagerInterface, "CreateXML", kCallTimeout,
        [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void NetworkClient::action(const std::string& path, const char* method, Done done) {
    m_service.callVoid(
        path, NetworkCache::kNetworkInterface, method, kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NetworkClient::start(const std::string& path, Done done) {
    action(path, "Start", std::move(done));
}

// networkd removes a transient network once it is stopped, and an undefined network once
// it is inactive, only after replying; the cache forgets it at once so that the client's
// next call (net-list right after net-destroy) does not see it.
void NetworkClient::stop(const std::string& path, Done done) {
    action(path, "Stop", [this, path, done](Result<void> r) {
        if (const auto* n = m_cache.byPath(path); r && n != nullptr && !n->persistent) {
            m_cache.remove(path);
        }
        done(std::move(r));
    });
}

void NetworkClient::undefine(const std::string& path, Done done) {
    action(path, "Undefine", [this, path, done](Result<void> r) {
        if (const auto* n = m_cache.byPath(path); r && n != nullptr && !n->active) {
            m_cache.remove(path);
        }
        done(std::move(r));
    });
}

void NetworkClient::getXml(const std::string& path, bool inactive, Then<std::string> done) {
    m_service.callReturning<std::string>(
        path, NetworkCache::kNetworkInterface, "GetXML", kCallTimeout,
        [inactive](sdbus::MethodCall& m) {
            Options options;
            if (inactive) {
                options["inactive"] = sdbus::Variant(true);
            }
            m << options;
        },
        std::move(done));
}

void NetworkClient::setAutostart(const std::string& path, bool autostart, Done done) {
    m_service.callVoid(
        path, NetworkCache::kNetworkInterface, "SetAutostart", kCallTimeout,
        [autostart](sdbus::MethodCall& m) { m << autostart << Options{}; }, std::move(done));
}

void NetworkClient::getDhcpLeases(const std::string& path, const std::string& mac,
                                  Then<std::vector<DhcpLease>> done) {
    m_service.callReturning<std::vector<PropertyMap>>(
        path, NetworkCache::kNetworkInterface, "GetDHCPLeases", kCallTimeout,
        [&mac](sdbus::MethodCall& m) {
            Options options;
            if (!mac.empty()) {
                options["mac"] = sdbus::Variant(mac);
            }
            m << options;
        },
        [done](Result<std::vector<PropertyMap>> r) {
            if (!r) {
                done(r.takeError());
                return;
            }
            std::vector<DhcpLease> leases;
            for (const auto& l : r.value()) {
                leases.push_back(leaseFromProperties(l));
            }
            done(std::move(leases));
        });
}

} // namespace virtswarm::bridge
