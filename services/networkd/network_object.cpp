// SPDX-License-Identifier: LGPL-2.1-or-later
#include "network_object.hpp"

#include "dnsmasq.hpp"
#include "registry.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::network {
namespace {

void enableForwarding(const NetworkDef& def) {
    if (def.forwardMode != "nat" && def.forwardMode != "route") {
        return;
    }
    for (const auto& ip : def.ips) {
        std::string knob = ip.family == 4 ? "/proc/sys/net/ipv4/ip_forward"
                                          : "/proc/sys/net/ipv6/conf/all/forwarding";
        // A sysctl is written in place (procfs has no rename). It is per network namespace.
        FILE* f = std::fopen(knob.c_str(), "w");
        if (f == nullptr) {
            log::warning("cannot enable forwarding: " + knob);
            continue;
        }
        std::fputs("1\n", f);
        std::fclose(f);
    }
}

} // namespace

NetworkObject::NetworkObject(NetworkRegistry& registry, const std::string& path, NetworkXml network,
                             bool persistent)
    : AdaptorInterfaces(registry.connection(), path)
    , m_registry(registry)
    , m_network(std::move(network))
    , m_persistent(persistent)
    , m_gate(
          getObject(), registry.authority(),
          [this] {
              return actions::objectDetails("network", m_network.def.name, m_network.def.uuid);
          },
          [this] {
              return Error(Code::NoSuchNetwork,
                           "network '" + m_network.def.name + "' no longer exists");
          }) {
    registerAdaptor();
}

NetworkObject::~NetworkObject() {
    unregisterAdaptor();
}

void NetworkObject::makePersistent() {
    if (!m_persistent) {
        m_persistent = true;
        emitPropertiesChangedSignal(Network_adaptor::INTERFACE_NAME, {"Persistent"});
    }
}

void NetworkObject::redefine(NetworkXml network) {
    if (m_active || m_busy) {
        m_nextDefinition = std::move(network);
        return;
    }
    replaceDefinition(std::move(network));
}

void NetworkObject::replaceDefinition(NetworkXml network) {
    m_network = std::move(network);
    m_registry.renamed(*this);
    emitPropertiesChangedSignal(Network_adaptor::INTERFACE_NAME, {"Name", "Bridge"});
}

void NetworkObject::setActive(bool active) {
    if (m_active == active) {
        return;
    }
    m_active = active;
    announceActive();
}

void NetworkObject::announceActive() {
    emitPropertiesChangedSignal(Network_adaptor::INTERFACE_NAME, {"Active"});
    m_registry.emitEvent(*this, m_active ? kEventStarted : kEventStopped);
}

void NetworkObject::teardown() {
    const NetworkDef& def = m_network.def;
    Dnsmasq(m_registry.paths().stateDir, def).stop();
    if (def.ownsBridge()) {
        if (auto r = m_registry.links().remove(def.bridge); !r) {
            log::warning(r.error().message());
        }
    }
    m_registry.forgetActive(def.uuid);
}

void NetworkObject::start(std::function<void(Result<void>)> done) {
    if (m_active || m_busy) {
        done(Error(Code::InvalidState, "network '" + m_network.def.name + "' is already active"));
        return;
    }
    const NetworkDef& def = m_network.def;
    if (auto conflict = m_registry.activeConflict(def)) {
        done(*conflict);
        return;
    }
    Links& links = m_registry.links();
    if (def.ownsBridge()) {
        if (links.exists(def.bridge)) {
            done(
                Error(Code::Conflict, "interface '" + def.bridge + "' already exists on the host"));
            return;
        }
        auto created = links.createBridge(def.bridge, def.mac, def.stp, def.delay);
        for (const auto& ip : def.ips) {
            if (created) {
                created = links.addAddress(def.bridge, ip.family, ip.address, ip.prefix);
            }
        }
        if (!created) {
            teardown();
            done(created.takeError());
            return;
        }
        enableForwarding(def);
    } else if (!links.isBridge(def.bridge)) {
        done(Error(Code::OperationFailed, "host bridge '" + def.bridge + "' does not exist"));
        return;
    }
    if (auto r = m_registry.recordActive(m_network); !r) {
        teardown();
        done(r);
        return;
    }
    m_busy = true;
    auto guard = m_lifetime.guard();
    auto finish = [this, guard, done](Result<void> r) {
        if (!guard.alive()) {
            done(Error(Code::NoSuchNetwork, "network removed while starting"));
            return;
        }
        m_busy = false;
        if (!r) {
            teardown();
            done(r);
            return;
        }
        log::info("network '" + m_network.def.name + "' started on " + m_network.def.bridge);
        // The rules include this network only once it counts as active; clients hear that
        // it is once they are in place (as libvirt, whose firewall is up before a network
        // is reported running): Active true means its NAT works.
        m_active = true;
        m_registry.refreshFirewall([this, guard, done](Result<void> ruled) {
            if (guard.alive()) {
                announceActive();
            }
            done(std::move(ruled));
        });
    };
    if (!def.runsDnsmasq()) {
        finish(success());
        return;
    }
    Dnsmasq(m_registry.paths().stateDir, def).start(m_registry.loop(), finish);
}

void NetworkObject::adoptActive(std::function<void()> done) {
    m_active = true;
    const NetworkDef& def = m_network.def;
    Dnsmasq dnsmasq(m_registry.paths().stateDir, def);
    log::info("re-adopted active network '" + def.name + "' on " + def.bridge);
    if (!def.runsDnsmasq() || dnsmasq.runningPid() != 0) {
        done();
        return;
    }
    // Its dnsmasq died while we were away: bring DHCP back.
    dnsmasq.start(m_registry.loop(), [name = def.name, done](Result<void> r) {
        if (!r) {
            log::error("cannot restart dnsmasq of '" + name + "': " + r.error().message());
        }
        done();
    });
}

void NetworkObject::stop(std::function<void(Result<void>)> done) {
    if (!m_active || m_busy) {
        done(Error(Code::InvalidState, "network '" + m_network.def.name + "' is not active"));
        return;
    }
    teardown();
    setActive(false);
    m_registry.refreshFirewall(done);
    afterStop();
}

void NetworkObject::afterStop() {
    if (m_nextDefinition) {
        NetworkXml next = std::move(*m_nextDefinition);
        m_nextDefinition.reset();
        replaceDefinition(std::move(next));
    }
    if (!m_persistent) {
        auto guard = m_lifetime.guard();
        m_registry.loop().defer([this, guard] {
            if (guard.alive() && !m_persistent && !m_active) {
                m_registry.remove(*this);
            }
        });
    }
}

namespace {

constexpr auto kStart = actions::forMethod(names::kNetworkInterface, "Start");
constexpr auto kStop = actions::forMethod(names::kNetworkInterface, "Stop");
constexpr auto kUndefine = actions::forMethod(names::kNetworkInterface, "Undefine");
constexpr auto kGetXML = actions::forMethod(names::kNetworkInterface, "GetXML");
constexpr auto kSetAutostart = actions::forMethod(names::kNetworkInterface, "SetAutostart");
constexpr auto kGetDHCPLeases = actions::forMethod(names::kNetworkInterface, "GetDHCPLeases");

} // namespace

void NetworkObject::Start(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kStart,
                  [this](const SharedResult<>& shared) {
                      start([shared](Result<void> r) { reply(shared, r); });
                  });
}

void NetworkObject::Stop(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kStop,
                  [this](const SharedResult<>& shared) {
                      stop([shared](Result<void> r) { reply(shared, r); });
                  });
}

void NetworkObject::Undefine(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kUndefine,
                  [this](const SharedResult<>& shared) {
                      if (!m_persistent) {
                          fail(shared, Error(Code::InvalidState,
                                             "network '" + m_network.def.name + "' is transient"));
                          return;
                      }
                      if (m_active || m_busy) {
                          fail(shared, Error(Code::InvalidState, "network '" + m_network.def.name +
                                                                     "' is active; stop it first"));
                          return;
                      }
                      if (auto r = m_registry.store().remove(m_network.def.uuid); !r) {
                          fail(shared, r.error());
                          return;
                      }
                      m_registry.emitEvent(*this, kEventUndefined);
                      reply(shared, success());
                      m_persistent = false;
                      afterStop();
                  });
}

void NetworkObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto inactive = boolOption(options, "inactive", false);
    bool wantInactive = inactive && inactive.value();
    m_gate.handle(std::move(result),
                  service::firstError(checkOptions(options, {"inactive"}), inactive), kGetXML,
                  [this, wantInactive](const SharedResult<std::string>& shared) {
                      shared->returnResults(wantInactive && m_nextDefinition ? m_nextDefinition->xml
                                                                             : m_network.xml);
                  });
}

void NetworkObject::SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) {
    m_gate.handle(
        std::move(result), checkOptions(options, {}), kSetAutostart,
        [this, autostart](const SharedResult<>& shared) {
            if (!m_persistent) {
                fail(shared,
                     Error(Code::InvalidState, "cannot set autostart for a transient network"));
                return;
            }
            if (auto r = m_registry.store().setAutostart(m_network.def.uuid, autostart); !r) {
                fail(shared, r.error());
                return;
            }
            if (m_autostart != autostart) {
                m_autostart = autostart;
                emitPropertiesChangedSignal(Network_adaptor::INTERFACE_NAME, {"Autostart"});
            }
            reply(shared, success());
        });
}

void NetworkObject::GetDHCPLeases(sdbus::Result<std::vector<Options>>&& result, Options options) {
    auto mac = stringOption(options, "mac", "");
    std::string wantedMac = mac ? mac.value() : std::string();
    m_gate.handle(
        std::move(result), checkOptions(options, {"mac"}), kGetDHCPLeases,
        [this, wantedMac](const SharedResult<std::vector<Options>>& shared) {
            std::vector<Options> out;
            if (m_active) {
                for (const auto& l : Dnsmasq(m_registry.paths().stateDir, m_network.def).leases()) {
                    if (!wantedMac.empty() && l.mac != wantedMac) {
                        continue;
                    }
                    out.push_back(
                        Options{{"iface", sdbus::Variant(m_network.def.bridge)},
                                {"expirytime", sdbus::Variant(l.expiry)},
                                {"type", sdbus::Variant(static_cast<int32_t>(l.type))},
                                {"mac", sdbus::Variant(l.mac)},
                                {"ipaddr", sdbus::Variant(l.ip)},
                                {"prefix", sdbus::Variant(static_cast<uint32_t>(l.prefix))},
                                {"hostname", sdbus::Variant(l.hostname)},
                                {"clientid", sdbus::Variant(l.clientId)}});
                }
            }
            shared->returnResults(out);
        });
}

} // namespace virtswarm::network
