// SPDX-License-Identifier: LGPL-2.1-or-later
// The mirror's feed: GetManagedObjects once per service instance, then the service's
// InterfacesAdded/Removed and PropertiesChanged signals; the Manager's own signals go to the
// signal handler.
#include "service_client.hpp"
#include "virtswarm/bus_driver.hpp"
#include "virtswarm/log.hpp"

#include <malloc.h>

namespace virtswarm::bridge {
namespace {

constexpr const char* kObjectManagerInterface = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kPropertiesInterface = "org.freedesktop.DBus.Properties";

using ManagedObjects = std::map<sdbus::ObjectPath, std::map<std::string, PropertyMap>>;

} // namespace

Result<void> ServiceClient::start(bool syncNow) {
    try {
        m_matches.push_back(
            m_bus.addMatch("type='signal',path_namespace='" + m_names.rootPath + "'",
                           [this](sdbus::Message& m) { onServiceSignal(m); }));
        m_matches.push_back(m_bus.addMatch(
            "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
            "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" +
                m_names.busName + "'",
            [this](sdbus::Message& m) { onNameOwnerChanged(m); }));
    } catch (const sdbus::Error& e) {
        return Error(Code::Internal, "cannot subscribe to the signals of " + m_names.description +
                                         ": " + e.getMessage());
    }
    if (syncNow) {
        m_wanted = true;
        startSync();
    }
    return success();
}

void ServiceClient::whenSynced(Done then) {
    m_wanted = true;
    if (m_synced) {
        then(success());
        return;
    }
    m_waiters.push_back(std::move(then));
    if (!m_syncing) {
        startSync();
    }
}

void ServiceClient::startSync() {
    m_syncing = true;
    call(
        m_names.rootPath, kObjectManagerInterface, "GetManagedObjects", kCallTimeout,
        [](sdbus::MethodCall&) {},
        [this](const sdbus::Error* error, sdbus::MethodReply* reply) {
            if (error != nullptr) {
                finishSync(fromDBusError(*error).prefix("cannot reach " + m_names.description));
                return;
            }
            auto mirrored = mirrorReply(*reply);
            // Reading the reply made one sd-bus message per property value (sdbus::Variant):
            // at 10,000 domains over 100 MiB, all freed by now but kept by malloc unless
            // given back, where the mirrors themselves need a few MiB.
            malloc_trim(0);
            if (mirrored && !mirrored.value()) {
                // The service was replaced while we asked; ask the new one.
                retrySync();
                return;
            }
            finishSync(mirrored ? success() : Result<void>(mirrored.takeError()));
        });
}

// The mirrors rebuilt from one GetManagedObjects reply; false (nothing changed) when the
// reply came from an instance that is no longer the name's owner.
Result<bool> ServiceClient::mirrorReply(sdbus::MethodReply& reply) {
    ManagedObjects objects;
    try {
        reply >> objects;
    } catch (const sdbus::Error& e) {
        return Error(Code::Internal, "unexpected GetManagedObjects reply: " + e.getMessage());
    }
    // The bus routed our call to the name's owner: the reply's sender is the instance the
    // answer describes.
    std::string sender = reply.getSender();
    if (!m_owner.empty() && sender != m_owner) {
        return false;
    }
    m_resyncs.reset();
    m_owner = sender;
    clearMirrors();
    for (const auto& [path, interfaces] : objects) {
        for (const auto& [interface, properties] : interfaces) {
            if (auto* mirror = mirrorOf(interface)) {
                mirror->update(path, properties);
            }
        }
    }
    log::debug("cache of " + m_names.description + " synchronised with " + sender + ": " +
               std::to_string(mirroredObjects()) + " objects");
    return true;
}

void ServiceClient::retrySync() {
    auto delay = m_resyncs.next();
    if (!delay) {
        // Whoever answers for the name next time is followed afresh.
        m_owner.clear();
        finishSync(Error(Code::HypervisorGone,
                         m_names.description + " keeps changing owner; try again later"));
        return;
    }
    m_resyncTimer = m_loop.addTimer(*delay, [this] {
        m_resyncTimer.reset();
        startSync();
    });
}

void ServiceClient::finishSync(Result<void> outcome) {
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

void ServiceClient::onNameOwnerChanged(sdbus::Message& message) {
    // Only the driver's own say counts, not a signal forged to our unique name.
    auto change = nameOwnerChangeFromBusDriver(message);
    if (!change) {
        return;
    }
    const auto& [name, oldOwner, newOwner] = *change;
    if (name != m_names.busName || newOwner == m_owner) {
        return;
    }
    log::info(newOwner.empty() ? m_names.description + " left the bus"
                               : m_names.description + " is now " + newOwner);
    // Whatever the old instance told us is void; the new one is asked afresh.
    m_owner = newOwner;
    clearMirrors();
    m_synced = false;
    for (const auto& handler : m_onOwnerChanged) {
        handler();
    }
    if (!newOwner.empty() && m_wanted && !m_syncing) {
        startSync();
    }
}

void ServiceClient::onServiceSignal(sdbus::Message& message) {
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
        } else if (auto handler = m_onSignal.find({interface, member});
                   handler != m_onSignal.end()) {
            handler->second(message);
        }
    } catch (const sdbus::Error& e) {
        log::warning("ignoring a malformed signal from " + m_names.description + ": " +
                     e.getMessage());
    }
}

void ServiceClient::applyInterfacesAdded(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::map<std::string, PropertyMap> interfaces;
    message >> path >> interfaces;
    for (const auto& [interface, properties] : interfaces) {
        if (auto* mirror = mirrorOf(interface)) {
            mirror->update(path, properties);
        }
    }
}

void ServiceClient::applyInterfacesRemoved(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::vector<std::string> interfaces;
    message >> path >> interfaces;
    for (const auto& i : interfaces) {
        if (auto* mirror = mirrorOf(i)) {
            mirror->remove(path);
        }
    }
}

void ServiceClient::applyPropertiesChanged(sdbus::Message& message) {
    std::string interface;
    PropertyMap changed;
    std::vector<std::string> invalidated;
    message >> interface >> changed >> invalidated;
    ObjectMirror* mirror = mirrorOf(interface);
    if (mirror == nullptr) {
        return;
    }
    std::string path = message.getPath();
    mirror->update(path, changed);
    if (invalidated.empty()) {
        return;
    }
    // Values not sent along: fetch them all again.
    call(
        path, kPropertiesInterface, "GetAll", kCallTimeout,
        [interface](sdbus::MethodCall& m) { m << interface; },
        [this, interface, path](const sdbus::Error* error, sdbus::MethodReply* reply) {
            // Looked up again: the mirrors may have been refilled meanwhile.
            ObjectMirror* target = mirrorOf(interface);
            PropertyMap all;
            if (error != nullptr || target == nullptr || !target->contains(path)) {
                return;
            }
            try {
                *reply >> all;
            } catch (const sdbus::Error&) {
                return;
            }
            target->update(path, all);
        });
}

ObjectMirror* ServiceClient::mirrorOf(const std::string& interface) const {
    auto it = m_mirrors.find(interface);
    return it == m_mirrors.end() ? nullptr : it->second;
}

void ServiceClient::clearMirrors() {
    for (auto& [interface, mirror] : m_mirrors) {
        mirror->clear();
    }
}

size_t ServiceClient::mirroredObjects() const {
    size_t n = 0;
    for (const auto& [interface, mirror] : m_mirrors) {
        n += mirror->size();
    }
    return n;
}

} // namespace virtswarm::bridge
