// SPDX-License-Identifier: LGPL-2.1-or-later
#include "network_client.hpp"

namespace virtswarm::bridge {

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
    : OwnedService(bus, loop, serviceNamesOf<NetworkKind>())
    , ObjectClient<NetworkKind>(ownService) {}

void NetworkClient::start(const std::string& path, Done done) {
    action(path, "Start", kCallTimeout, {}, std::move(done));
}

// networkd removes a transient network once it is stopped, and an undefined network once
// it is inactive, only after replying (ObjectClient::actionThenForget).
void NetworkClient::stop(const std::string& path, Done done) {
    actionThenForget(
        path, "Stop", kCallTimeout, [](const CachedNetwork& n) { return !n.persistent; },
        std::move(done));
}

void NetworkClient::undefine(const std::string& path, Done done) {
    actionThenForget(
        path, "Undefine", kCallTimeout, [](const CachedNetwork& n) { return !n.active; },
        std::move(done));
}

void NetworkClient::listHostInterfaces(Then<std::vector<HostInterfaceWire>> done) {
    service().callReturning<std::vector<HostInterfaceWire>>(
        NetworkKind::kBus.rootPath, NetworkKind::kBus.managerInterface, "ListHostInterfaces",
        kCallTimeout, [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NetworkClient::getDhcpLeases(const std::string& path, const std::string& mac,
                                  Then<std::vector<DhcpLease>> done) {
    Options options;
    if (!mac.empty()) {
        options["mac"] = sdbus::Variant(mac);
    }
    call<std::vector<PropertyMap>>(
        path, "GetDHCPLeases", kCallTimeout, [&options](sdbus::MethodCall& m) { m << options; },
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
