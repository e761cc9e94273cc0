// SPDX-License-Identifier: LGPL-2.1-or-later
#include "autostarter.hpp"

#include "domain_object.hpp"
#include "registry.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>

namespace virtswarm::hypervisor {
namespace {

constexpr auto kNetworkRetry = std::chrono::milliseconds(250);
// networkd may be activated by the probe itself.
constexpr auto kProbeTimeout = std::chrono::seconds(20);
constexpr const char* kNetworkBus = "org.virtswarm.Network1";

} // namespace

Autostarter::Autostarter(Registry& registry, unsigned parallel,
                         std::chrono::milliseconds networkWait)
    : m_registry(registry)
    , m_parallel(std::max(1U, parallel))
    , m_networkWait(networkWait) {}

Autostarter::~Autostarter() = default;

void Autostarter::run(const std::vector<std::string>& uuidHexes) {
    m_pending.insert(m_pending.end(), uuidHexes.begin(), uuidHexes.end());
    if (!m_pending.empty()) {
        log::info("autostart: " + std::to_string(m_pending.size()) + " domain(s), " +
                  std::to_string(m_parallel) + " at a time");
    }
    startMore();
}

void Autostarter::startMore() {
    while (m_running < m_parallel && !m_pending.empty()) {
        std::string uuidHex = m_pending.front();
        m_pending.pop_front();
        ++m_running;
        waitForNetworks(uuidHex, std::chrono::steady_clock::now() + m_networkWait);
    }
}

void Autostarter::waitForNetworks(const std::string& uuidHex,
                                  std::chrono::steady_clock::time_point deadline) {
    DomainObject* domain = m_registry.findByUuidHex(uuidHex);
    if (domain == nullptr || domain->active()) {
        finished(); // undefined, or started by someone else meanwhile
        return;
    }
    std::vector<std::string> networks;
    for (const auto& nic : domain->def().interfaces) {
        if (nic.type == "network") {
            networks.push_back(nic.source);
        }
    }
    // networkd serves the system bus only; a session registry's domains get their TAPs
    // through the shim's own system bus connection and are not held back.
    if (networks.empty() || m_registry.config().mode != BusMode::System) {
        launch(uuidHex);
        return;
    }
    auto remaining = std::make_shared<size_t>(networks.size());
    std::string name = domain->def().name;
    auto allActive = std::make_shared<bool>(true);
    auto guard = m_lifetime.guard();
    for (const auto& network : networks) {
        probeNetwork(network, [=, this](bool active) {
            if (!guard.alive()) {
                return;
            }
            *allActive = *allActive && active;
            if (--*remaining > 0) {
                return;
            }
            if (*allActive || std::chrono::steady_clock::now() >= deadline) {
                launch(uuidHex);
                return;
            }
            if (m_retryTimers.count(uuidHex) == 0) {
                log::info("autostart of '" + name + "': waiting for its network(s) to be up");
            }
            m_retryTimers[uuidHex] = m_registry.loop().addTimer(kNetworkRetry, [=, this] {
                if (guard.alive()) {
                    waitForNetworks(uuidHex, deadline);
                }
            });
        });
    }
}

sdbus::IProxy* Autostarter::networkd() {
    if (!m_networkd) {
        m_networkd =
            sdbus::createProxy(m_registry.connection(), kNetworkBus, "/org/virtswarm/Network1");
    }
    return m_networkd.get();
}

sdbus::IProxy& Autostarter::networkProxy(const std::string& path) {
    auto& proxy = m_networks[path];
    if (!proxy) {
        proxy = sdbus::createProxy(m_registry.connection(), kNetworkBus, path);
    }
    return *proxy;
}

void Autostarter::probeNetwork(const std::string& network, std::function<void(bool)> done) {
    auto guard = m_lifetime.guard();
    try {
        networkd()
            ->callMethodAsync("LookupByName")
            .onInterface("org.virtswarm.Network1.Manager")
            .withTimeout(kProbeTimeout)
            .withArguments(network)
            .uponReplyInvoke(
                [this, guard, done](const sdbus::Error* error, sdbus::ObjectPath path) {
                    if (!guard.alive()) {
                        return;
                    }
                    if (error != nullptr) {
                        done(true); // no such network: Start says so
                        return;
                    }
                    networkProxy(path)
                        .callMethodAsync("Get")
                        .onInterface("org.freedesktop.DBus.Properties")
                        .withTimeout(kProbeTimeout)
                        .withArguments("org.virtswarm.Network1.Network", "Active")
                        .uponReplyInvoke(
                            [guard, done](const sdbus::Error* getError, sdbus::Variant active) {
                                if (!guard.alive()) {
                                    return;
                                }
                                done(getError != nullptr || active.get<bool>());
                            });
                });
    } catch (const sdbus::Error&) {
        done(true);
    }
}

void Autostarter::launch(const std::string& uuidHex) {
    DomainObject* domain = m_registry.findByUuidHex(uuidHex);
    if (domain == nullptr || domain->active()) {
        finished();
        return;
    }
    auto guard = m_lifetime.guard();
    domain->model().start([this, guard, name = domain->def().name](Result<void> r) {
        if (r) {
            log::info("autostart of '" + name + "': running");
        } else {
            log::error("autostart of '" + name + "' failed: " + r.error().message());
        }
        if (guard.alive()) {
            finished();
        }
    });
}

void Autostarter::finished() {
    --m_running;
    // Never from inside a start's callback chain.
    auto guard = m_lifetime.guard();
    m_registry.loop().defer([this, guard] {
        if (guard.alive()) {
            startMore();
        }
    });
}

} // namespace virtswarm::hypervisor
