// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "network_object.hpp"
#include "registry.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::network {
namespace {

constexpr int kEventDefined = 0;

} // namespace

ManagerObject::ManagerObject(NetworkRegistry& registry)
    : AdaptorInterfaces(registry.connection(), "/org/virtswarm/Network1")
    , m_registry(registry) {
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
        "org.virtswarm.network.save", parseNetworkXml,
        [this](const PathResult& shared, const std::shared_ptr<NetworkXml>& network) {
            NetworkObject* existing = m_registry.findByUuid(network->def.uuid);
            if (existing != nullptr && existing->def().name != network->def.name) {
                failPath(shared, Error(Code::NetworkExists, "network '" + existing->def().name +
                                                                "' already has this uuid"));
                return;
            }
            auto prepared = m_registry.prepare(*network, existing);
            if (!prepared) {
                failPath(shared, prepared.error());
                return;
            }
            if (auto r = m_registry.store().save(prepared.value().def.uuid, prepared.value().xml);
                !r) {
                failPath(shared, r.error());
                return;
            }
            auto path = NetworkRegistry::objectPathFor(prepared.value().def.uuid);
            if (existing != nullptr) {
                existing->redefine(prepared.value());
                existing->makePersistent();
                shared->returnResults(sdbus::ObjectPath(path));
                return;
            }
            auto added = m_registry.add(std::move(prepared).value(), true);
            if (!added) {
                failPath(shared, added.error());
                return;
            }
            log::info("defined network '" + added.value()->def().name + "'");
            m_registry.emitEvent(*added.value(), kEventDefined);
            shared->returnResults(sdbus::ObjectPath(path));
        });
}

void ManagerObject::CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeDefinition<NetworkXml>(
        getObject(), m_registry.authority(), std::move(result), xml, options, "network",
        "org.virtswarm.network.start", parseNetworkXml,
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

sdbus::ObjectPath ManagerObject::LookupByName(const std::string& name) {
    if (auto* n = m_registry.findByName(name)) {
        return NetworkRegistry::objectPathFor(n->def().uuid);
    }
    throw toDBusError(Error(Code::NoSuchNetwork, "no network with matching name '" + name + "'"));
}

sdbus::ObjectPath ManagerObject::LookupByUUID(const std::string& uuid) {
    auto parsed = parseUuid(uuid);
    if (!parsed) {
        throw toDBusError(parsed.error());
    }
    if (auto* n = m_registry.findByUuid(parsed.value())) {
        return NetworkRegistry::objectPathFor(n->def().uuid);
    }
    throw toDBusError(Error(Code::NoSuchNetwork, "no network with matching uuid '" + uuid + "'"));
}

std::vector<sdbus::ObjectPath> ManagerObject::ListNetworks(const Options& options) {
    auto filter = activityFilter(options);
    if (!filter) {
        throw toDBusError(filter.error());
    }
    std::vector<sdbus::ObjectPath> out;
    for (auto* n : m_registry.all()) {
        if (filter.value().accepts(n->active())) {
            out.emplace_back(NetworkRegistry::objectPathFor(n->def().uuid));
        }
    }
    return out;
}

void ManagerObject::AcquireTap(sdbus::Result<sdbus::UnixFd, std::string>&& result,
                               std::string network, Options options) {
    auto shared = std::make_shared<sdbus::Result<sdbus::UnixFd, std::string>>(std::move(result));
    auto failTap = [shared](const Error& e) { shared->returnError(toDBusError(e)); };
    if (auto r = checkOptions(options, {"mac", "bridge"}); !r) {
        failTap(r.error());
        return;
    }
    std::string hostBridge =
        options.count("bridge") > 0 && options.at("bridge").containsValueOfType<std::string>()
            ? options.at("bridge").get<std::string>()
            : std::string();
    PolkitDetails details;
    if (network.empty()) {
        if (hostBridge.empty()) {
            failTap(
                Error(Code::InvalidArgs, "name a network, or a host bridge in option 'bridge'"));
            return;
        }
        details = {{"bridge_name", hostBridge}};
    } else {
        NetworkObject* n = m_registry.findByName(network);
        if (n == nullptr) {
            failTap(Error(Code::NoSuchNetwork, "no network with matching name '" + network + "'"));
            return;
        }
        details = {{"network_name", n->def().name}, {"network_uuid", n->uuidText()}};
    }
    Caller caller = currentCaller(getObject());
    m_registry.authority().checkBusNameWithUid(
        caller.sender, "org.virtswarm.network.acquire-tap", details, caller.allowInteraction,
        [this, network, hostBridge, failTap, shared](Result<uid_t> owner) {
            if (!owner) {
                failTap(owner.error());
                return;
            }
            // Looked up again: the network may have stopped while polkit decided.
            std::string bridge = hostBridge;
            if (!network.empty()) {
                NetworkObject* n = m_registry.findByName(network);
                if (n == nullptr || !n->active()) {
                    failTap(Error(Code::InvalidState, "network '" + network + "' is not active"));
                    return;
                }
                bridge = n->def().bridge;
            } else if (!m_registry.links().isBridge(bridge)) {
                failTap(Error(Code::OperationFailed, "'" + bridge + "' is not a bridge"));
                return;
            }
            auto tap = m_registry.links().createTap(bridge, owner.value());
            if (!tap) {
                failTap(tap.error());
                return;
            }
            log::info("TAP " + tap.value().name + " on " + bridge + " for uid " +
                      std::to_string(owner.value()));
            // Our copy closes with the reply; the caller's copy keeps the TAP alive.
            shared->returnResults(sdbus::UnixFd(tap.value().fd, sdbus::adopt_fd), tap.value().name);
        });
}

} // namespace virtswarm::network
