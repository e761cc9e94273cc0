// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry.hpp"

#include "default_network.hpp"
#include "firewall.hpp"
#include "network_object.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <filesystem>

namespace virtswarm::network {

NetworkRegistry::NetworkRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                                 DaemonPaths paths)
    : m_connection(connection)
    , m_loop(loop)
    , m_mode(mode)
    , m_paths(std::move(paths))
    , m_authority(connection, mode)
    , m_store(m_paths.configDir)
    , m_networks(kNetworkKind) {}

NetworkRegistry::~NetworkRegistry() = default;

void NetworkRegistry::start(std::function<void()> ready) {
    m_networks.loadDefinitions<NetworkXml>(
        m_store, parseNetworkXml, [](const NetworkXml& n) { return n.def.uuid; },
        [this](NetworkXml network, bool autostart) {
            auto added = add(std::move(network), true);
            if (added) {
                added.value()->setAutostartFlag(autostart);
            }
            return added;
        });
    readoptActive([this, ready] {
        provisionDefaultNetwork(*this, m_mode);
        refreshFirewall([](Result<void> r) {
            if (!r) {
                log::error("firewall: " + r.error().message());
            }
        });
        m_networks.autostart([](const NetworkObject& n) { return n.autostart() && !n.active(); },
                             [](NetworkObject& n, auto done) { n.start(std::move(done)); });
        ready();
    });
}

void NetworkRegistry::readoptActive(std::function<void()> done) {
    std::vector<NetworkObject*> adopted;
    // Listed first: a record renamed below must not be visited twice.
    std::vector<std::filesystem::path> records;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(m_paths.runtimeDir, ec)) {
        if (entry.path().extension() == ".xml") {
            records.push_back(entry.path());
        }
    }
    for (const auto& record : records) {
        auto text = readFile(record.string());
        auto parsed = text ? parseNetworkXml(text.value()) : Result<NetworkXml>(text.takeError());
        if (!parsed) {
            log::error("cannot re-adopt " + record.string() + ": " + parsed.error().message());
            continue;
        }
        if (record.string() != activeRecordPath(parsed.value().def.uuid)) {
            // Recorded by a networkd that named runtime files by the dashed UUID: renamed
            // to the one form, so that forgetActive finds it.
            std::filesystem::rename(record, activeRecordPath(parsed.value().def.uuid), ec);
        }
        NetworkObject* network = findByUuid(parsed.value().def.uuid);
        if (network == nullptr) {
            auto added = add(parsed.value(), false); // a transient network
            if (!added) {
                continue;
            }
            network = added.value();
        } else {
            network->redefine(parsed.value());
        }
        if (parsed.value().def.ownsBridge() && !m_links.exists(parsed.value().def.bridge)) {
            // The host lost the bridge (reboot of the namespace, manual removal): the network
            // is simply not active any more.
            forgetActive(parsed.value().def.uuid);
            continue;
        }
        adopted.push_back(network);
    }
    auto pending = std::make_shared<size_t>(adopted.size() + 1);
    auto finishOne = [pending, done] {
        if (--*pending == 0) {
            done();
        }
    };
    for (auto* n : adopted) {
        n->adoptActive(finishOne);
    }
    finishOne();
}

std::string NetworkRegistry::activeRecordPath(const UuidBytes& uuid) const {
    return m_paths.runtimeDir + "/" + service::runtimeKey(uuid) + ".xml";
}

Result<void> NetworkRegistry::recordActive(const NetworkXml& network) {
    return writeFileAtomic(activeRecordPath(network.def.uuid), network.xml, 0600);
}

void NetworkRegistry::forgetActive(const UuidBytes& uuid) {
    (void)removeFileDurable(activeRecordPath(uuid));
}

std::string NetworkRegistry::allocateBridgeName() const {
    for (int i = 0;; ++i) {
        std::string name = "vsbr" + std::to_string(i);
        bool taken = false;
        for (const NetworkObject* n : all()) {
            taken = taken || n->def().bridge == name;
        }
        if (!taken && !m_links.exists(name)) {
            return name;
        }
    }
}

Result<NetworkXml> NetworkRegistry::prepare(NetworkXml network,
                                            const NetworkObject* replacing) const {
    const NetworkDef& def = network.def;
    for (const NetworkObject* other : all()) {
        if (other == replacing) {
            continue;
        }
        const NetworkDef& o = other->def();
        if (o.name == def.name || o.uuid == def.uuid) {
            return Error(Code::NetworkExists,
                         "network '" + o.name + "' already exists with uuid " + formatUuid(o.uuid));
        }
        if (!def.bridge.empty() && o.bridge == def.bridge && def.ownsBridge()) {
            return Error(Code::Conflict,
                         "bridge '" + def.bridge + "' is already used by network '" + o.name + "'");
        }
        for (const auto& a : def.ips) {
            for (const auto& b : o.ips) {
                if (subnetsOverlap(a, b)) {
                    return Error(Code::Conflict, "subnet " + a.address + "/" +
                                                     std::to_string(a.prefix) +
                                                     " overlaps network '" + o.name + "'");
                }
            }
        }
    }
    if (def.ownsBridge() && def.bridge.empty()) {
        std::string keep = replacing != nullptr ? replacing->def().bridge : "";
        return withBridgeName(network, keep.empty() ? allocateBridgeName() : keep);
    }
    return network;
}

std::optional<Error> NetworkRegistry::activeConflict(const NetworkDef& def) const {
    for (const NetworkObject* other : all()) {
        if (!other->active() || other->def().uuid == def.uuid) {
            continue;
        }
        if (other->def().bridge == def.bridge && def.ownsBridge()) {
            return Error(Code::Conflict, "bridge '" + def.bridge + "' is in use by network '" +
                                             other->def().name + "'");
        }
    }
    return std::nullopt;
}

Result<NetworkObject*> NetworkRegistry::add(NetworkXml network, bool persistent) {
    UuidBytes uuid = network.def.uuid;
    std::string name = network.def.name;
    return m_networks.add(uuid, name, [&](const std::string& path) {
        return std::make_unique<NetworkObject>(*this, path, std::move(network), persistent);
    });
}

Result<NetworkObject*> NetworkRegistry::define(const NetworkXml& network) {
    NetworkObject* existing = findByUuid(network.def.uuid);
    if (existing != nullptr && existing->def().name != network.def.name) {
        return Error(Code::NetworkExists,
                     "network '" + existing->def().name + "' already has this uuid");
    }
    auto prepared = prepare(network, existing);
    if (!prepared) {
        return prepared.takeError();
    }
    if (auto r = m_store.save(prepared.value().def.uuid, prepared.value().xml); !r) {
        return r.takeError();
    }
    if (existing != nullptr) {
        existing->redefine(prepared.value());
        existing->makePersistent();
        return existing;
    }
    auto added = add(std::move(prepared).value(), true);
    if (added) {
        log::info("defined network '" + added.value()->def().name + "'");
        emitEvent(*added.value(), kEventDefined);
    }
    return added;
}

void NetworkRegistry::remove(NetworkObject& network) {
    m_networks.remove(network.def().uuid);
}

void NetworkRegistry::renamed(const NetworkObject& network) {
    m_networks.rename(network.def().uuid, network.def().name);
}

// One nft run at a time: each writes the whole table for the state when it began, so a
// later change waits and then applies the newest state, never an older one last.
void NetworkRegistry::refreshFirewall(std::function<void(Result<void>)> done) {
    m_firewallWaiters.push_back(std::move(done));
    if (m_firewallRunning) {
        m_firewallDirty = true;
        return;
    }
    m_firewallRunning = true;
    m_firewallDirty = false;
    std::vector<const NetworkDef*> active;
    for (const NetworkObject* n : all()) {
        if (n->active()) {
            active.push_back(&n->def());
        }
    }
    auto waiters = std::move(m_firewallWaiters);
    m_firewallWaiters.clear();
    applyFirewall(m_loop, m_paths.stateDir, active,
                  [this, waiters = std::move(waiters)](Result<void> r) {
                      m_firewallRunning = false;
                      for (const auto& w : waiters) {
                          w(r);
                      }
                      if (m_firewallDirty) {
                          refreshFirewall([](Result<void>) {});
                      }
                  });
}

void NetworkRegistry::emitEvent(const NetworkObject& network, int event) {
    if (m_emitEvent) {
        m_emitEvent(network, event);
    }
}

} // namespace virtswarm::network
