// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "network_object.hpp"
#include "registry.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/fd_broker.hpp"

#include <unistd.h>

namespace virtswarm::network {
namespace {

constexpr auto kDefineXML = actions::forMethod(names::kNetworkManagerInterface, "DefineXML");
constexpr auto kCreateXML = actions::forMethod(names::kNetworkManagerInterface, "CreateXML");
constexpr auto kAcquireTap = actions::forMethod(names::kNetworkManagerInterface, "AcquireTap");

} // namespace

ManagerObject::ManagerObject(NetworkRegistry& registry)
    : ManagerBase(registry.connection(), names::kNetworkRootPath, registry.networks())
    , m_registry(registry)
    , m_filters(registry.connection()) {
    registerAdaptor();
    m_registry.setEventEmitter([this](const NetworkObject& n, int event) {
        emitNetworkEvent(NetworkRegistry::objectPathFor(n.def().uuid), n.def().name, n.uuidText(),
                         event, 0);
    });
}

ManagerObject::~ManagerObject() {
    m_registry.setEventEmitter(nullptr);
    unregisterAdaptor();
}

void ManagerObject::DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeDefinition<NetworkXml>(
        getObject(), m_registry.authority(), std::move(result), xml, options, "network",
        actions::actionId(kDefineXML).c_str(), parseNetworkXml,
        [this](const PathResult& shared, const std::shared_ptr<NetworkXml>& network) {
            auto defined = m_registry.define(*network);
            if (!defined) {
                failPath(shared, defined.error());
                return;
            }
            shared->returnResults(
                sdbus::ObjectPath(NetworkRegistry::objectPathFor(defined.value()->def().uuid)));
        });
}

void ManagerObject::CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeDefinition<NetworkXml>(
        getObject(), m_registry.authority(), std::move(result), xml, options, "network",
        actions::actionId(kCreateXML).c_str(), parseNetworkXml,
        [this](const PathResult& shared, const std::shared_ptr<NetworkXml>& network) {
            auto prepared = m_registry.prepare(*network, nullptr);
            if (!prepared) {
                failPath(shared, prepared.error());
                return;
            }
            auto added = m_registry.add(std::move(prepared).value(), false);
            if (!added) {
                failPath(shared, added.error());
                return;
            }
            NetworkObject* n = added.value();
            auto path = NetworkRegistry::objectPathFor(n->def().uuid);
            auto guard = n->lifetimeGuard();
            n->start([this, n, guard, shared, path](Result<void> r) {
                if (r) {
                    shared->returnResults(sdbus::ObjectPath(path));
                    return;
                }
                failPath(shared, r.error());
                if (guard.alive() && !n->active()) {
                    m_registry.remove(*n);
                }
            });
        });
}

std::vector<sdbus::ObjectPath> ManagerObject::ListNetworks(const Options& options) {
    return listPaths(options, [](const NetworkObject& n) { return n.active(); });
}

std::vector<HostInterfaceWire> ManagerObject::ListHostInterfaces(const Options& options) {
    if (auto r = checkOptions(options, {}); !r) {
        throw toDBusError(r.error());
    }
    auto interfaces = m_registry.links().hostInterfaces();
    if (!interfaces) {
        throw toDBusError(interfaces.error());
    }
    std::vector<HostInterfaceWire> out;
    for (const auto& i : interfaces.value()) {
        std::vector<GuestAddressWire> addresses;
        for (const auto& a : i.addresses) {
            addresses.emplace_back(a.family, a.address, a.prefix);
        }
        out.emplace_back(i.name, i.mac, i.type, i.up, i.mtu, std::move(addresses));
    }
    return out;
}

namespace {

// What AcquireTap asks polkit about: the named network, or the host bridge in the options.
Result<PolkitDetails> tapRequest(const NetworkRegistry& registry, const std::string& network,
                                 const std::string& hostBridge) {
    if (network.empty()) {
        if (hostBridge.empty()) {
            return Error(Code::InvalidArgs, "name a network, or a host bridge in option 'bridge'");
        }
        return PolkitDetails{{"bridge_name", hostBridge}};
    }
    auto n = registry.networks().lookupByName(network);
    if (!n) {
        return n.takeError();
    }
    return actions::objectDetails("network", n.value()->def().name, n.value()->def().uuid);
}

} // namespace

void ManagerObject::AcquireTap(sdbus::Result<sdbus::UnixFd, std::string>&& result,
                               std::string network, Options options) {
    auto bridgeOption = stringOption(options, "bridge", "");
    auto macOption = stringOption(options, "mac", "");
    std::string hostBridge = bridgeOption ? bridgeOption.value() : std::string();
    std::string mac = macOption ? macOption.value() : std::string();
    auto filter = filterRequestFrom(options);
    Result<PolkitDetails> request = tapRequest(m_registry, network, hostBridge);
    if (auto r = checkOptions(
            options, {"mac", "bridge", "filter", "filter_parameters", "owner_name", "owner_uuid"});
        !r) {
        request = r.error();
    } else if (!filter) {
        request = filter.error();
    } else if (filter.value() && mac.empty()) {
        request = Error(Code::InvalidArgs, "a filter binding needs the guest's 'mac'");
    }
    auto filterRequest = filter ? filter.value() : std::nullopt;
    service::handOutFdAsync(
        getObject(), m_registry.authority(), std::move(result), std::move(request), kAcquireTap,
        [this, network, hostBridge, filterRequest, mac](uid_t owner, auto done) {
            auto tap = createTap(network, hostBridge, owner);
            if (!tap || !filterRequest) {
                done(std::move(tap));
                return;
            }
            // The TAP goes to the shim only once its filter is in place; a refused binding
            // closes it, which removes the device.
            service::BrokeredFd made = tap.value();
            m_filters.bind(*filterRequest, made.name, mac, [made, done](Result<void> bound) {
                if (!bound) {
                    ::close(made.fd);
                    done(bound.error());
                    return;
                }
                done(made);
            });
        });
}

Result<service::BrokeredFd> ManagerObject::createTap(const std::string& network,
                                                     const std::string& hostBridge, uid_t owner) {
    // Looked up again: the network may have stopped while polkit decided.
    std::string bridge = hostBridge;
    if (!network.empty()) {
        NetworkObject* n = m_registry.findByName(network);
        if (n == nullptr || !n->active()) {
            return Error(Code::InvalidState, "network '" + network + "' is not active");
        }
        bridge = n->def().bridge;
    } else if (!m_registry.links().isBridge(bridge)) {
        return Error(Code::OperationFailed, "'" + bridge + "' is not a bridge");
    }
    auto tap = m_registry.links().createTap(bridge, owner);
    if (!tap) {
        return tap.takeError();
    }
    log::info("TAP " + tap.value().name + " on " + bridge + " for uid " + std::to_string(owner));
    return service::BrokeredFd{tap.value().fd, tap.value().name};
}

} // namespace virtswarm::network
