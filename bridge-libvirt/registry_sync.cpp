// SPDX-License-Identifier: LGPL-2.1-or-later
// The domain cache's feed: GetManagedObjects once per registry instance, then the
// registry's InterfacesAdded/Removed, PropertiesChanged and DomainEvent signals.
#include "registry_client.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

namespace virtswarm::bridge {
namespace {

constexpr const char* kManagerInterface = "org.virtswarm.Hypervisor1.Manager";
constexpr const char* kObjectManagerInterface = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kPropertiesInterface = "org.freedesktop.DBus.Properties";

using ManagedObjects = std::map<sdbus::ObjectPath, std::map<std::string, PropertyMap>>;

} // namespace

Result<void> RegistryClient::start() {
    try {
        m_matches.push_back(m_bus.addMatch(std::string("type='signal',path_namespace='") +
                                               names::kHypervisorRootPath + "'",
                                           [this](sdbus::Message& m) { onRegistrySignal(m); }));
        m_matches.push_back(m_bus.addMatch(
            std::string("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/"
                        "DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='") +
                names::kHypervisorBusName + "'",
            [this](sdbus::Message& m) { onNameOwnerChanged(m); }));
    } catch (const sdbus::Error& e) {
        return Error(Code::Internal,
                     "cannot subscribe to the registry's signals: " + e.getMessage());
    }
    startSync();
    return success();
}

void RegistryClient::whenSynced(Done then) {
    if (m_synced) {
        then(success());
        return;
    }
    m_waiters.push_back(std::move(then));
    if (!m_syncing) {
        startSync();
    }
}

void RegistryClient::startSync() {
    m_syncing = true;
    call(
        names::kHypervisorRootPath, kObjectManagerInterface, "GetManagedObjects", kCallTimeout,
        [](sdbus::MethodCall&) {},
        [this](const sdbus::Error* error, sdbus::MethodReply* reply) {
            if (error != nullptr) {
                finishSync(fromDBusError(*error).prefix("cannot reach the hypervisor registry"));
                return;
            }
            ManagedObjects objects;
            try {
                *reply >> objects;
            } catch (const sdbus::Error& e) {
                finishSync(
                    Error(Code::Internal, "unexpected GetManagedObjects reply: " + e.getMessage()));
                return;
            }
            std::string sender = reply->getSender();
            if (!m_owner.empty() && sender != m_owner) {
                // The registry was replaced while we asked; ask the new one.
                startSync();
                return;
            }
            m_owner = sender;
            m_cache.clear();
            for (const auto& [path, interfaces] : objects) {
                auto it = interfaces.find(DomainCache::kDomainInterface);
                if (it != interfaces.end()) {
                    m_cache.update(path, it->second);
                }
            }
            log::debug("domain cache synchronised with " + sender + ": " +
                       std::to_string(m_cache.size()) + " domains");
            finishSync(success());
        });
}

void RegistryClient::finishSync(Result<void> outcome) {
    m_syncing = false;
    m_synced = outcome.ok();
    if (!outcome) {
        log::warning(outcome.error().message());
    }
    auto waiters = std::move(m_waiters);
    m_waiters.clear();
    for (auto& w : waiters) {
        w(outcome);
    }
}

void RegistryClient::onNameOwnerChanged(sdbus::Message& message) {
    std::string name, oldOwner, newOwner;
    try {
        message >> name >> oldOwner >> newOwner;
    } catch (const sdbus::Error&) {
        return;
    }
    if (name != names::kHypervisorBusName || newOwner == m_owner) {
        return;
    }
    log::info(newOwner.empty() ? std::string("the hypervisor registry left the bus")
                               : "the hypervisor registry is now " + newOwner);
    // Whatever the old instance told us is void; the new one is asked afresh.
    m_owner = newOwner;
    m_cache.clear();
    m_synced = false;
    if (!newOwner.empty() && !m_syncing) {
        startSync();
    }
}

void RegistryClient::onRegistrySignal(sdbus::Message& message) {
    if (m_owner.empty() || message.getSender() != m_owner) {
        return;
    }
    try {
        std::string interface = message.getInterfaceName();
        std::string member = message.getMemberName();
        if (interface == kObjectManagerInterface && member == "InterfacesAdded") {
            applyInterfacesAdded(message);
        } else if (interface == kObjectManagerInterface && member == "InterfacesRemoved") {
            applyInterfacesRemoved(message);
        } else if (interface == kPropertiesInterface && member == "PropertiesChanged") {
            applyPropertiesChanged(message);
        } else if (interface == kManagerInterface && member == "DomainEvent") {
            applyDomainEvent(message);
        }
    } catch (const sdbus::Error& e) {
        log::warning("ignoring a malformed signal from the registry: " + e.getMessage());
    }
}

void RegistryClient::applyInterfacesAdded(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::map<std::string, PropertyMap> interfaces;
    message >> path >> interfaces;
    if (auto it = interfaces.find(DomainCache::kDomainInterface); it != interfaces.end()) {
        m_cache.update(path, it->second);
    }
}

void RegistryClient::applyInterfacesRemoved(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::vector<std::string> interfaces;
    message >> path >> interfaces;
    for (const auto& i : interfaces) {
        if (i == DomainCache::kDomainInterface) {
            m_cache.remove(path);
        }
    }
}

void RegistryClient::applyPropertiesChanged(sdbus::Message& message) {
    std::string interface;
    PropertyMap changed;
    std::vector<std::string> invalidated;
    message >> interface >> changed >> invalidated;
    if (interface != DomainCache::kDomainInterface) {
        return;
    }
    std::string path = message.getPath();
    m_cache.update(path, changed);
    if (invalidated.empty()) {
        return;
    }
    // Values not sent along: fetch them all again.
    call(
        path, kPropertiesInterface, "GetAll", kCallTimeout,
        [](sdbus::MethodCall& m) { m << DomainCache::kDomainInterface; },
        [this, path](const sdbus::Error* error, sdbus::MethodReply* reply) {
            PropertyMap all;
            if (error != nullptr || m_cache.byPath(path) == nullptr) {
                return;
            }
            try {
                *reply >> all;
            } catch (const sdbus::Error&) {
                return;
            }
            m_cache.update(path, all);
        });
}

void RegistryClient::applyDomainEvent(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::string name, uuid;
    int32_t event = 0, detail = 0;
    message >> path >> name >> uuid >> event >> detail;
    auto parsed = parseUuid(uuid);
    if (!parsed) {
        return;
    }
    if (m_onEvent) {
        m_onEvent(DomainEventSignal{path, name, parsed.value(), event, detail});
    }
}

} // namespace virtswarm::bridge
