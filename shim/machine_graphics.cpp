// SPDX-License-Identifier: LGPL-2.1-or-later
// Graphics: passwords, the port QEMU chose, and clients on sockets handed over.
//
// Passwords (VNC and SPICE): QEMU starts with authentication on and no password (VNC
// password=on, SPICE with ticketing), so nobody can log in, and the shim sets the password
// over the monitor while the guest is still stopped under -S. The command line, which
// every user can read in /proc/<pid>/cmdline, never holds it.
#include "machine.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::shim {
namespace {

bool autoportVnc(const DomainDef& def) {
    for (const GraphicsDef& g : def.graphics) {
        if (g.type == "vnc" && g.autoport) {
            return true;
        }
    }
    return false;
}

} // namespace

void Machine::setGraphicsPassword(std::function<void()> then) {
    setGraphicsPasswordFrom(0, std::move(then));
}

void Machine::setGraphicsPasswordFrom(size_t index, std::function<void()> then) {
    const auto& graphics = m_domain.def.graphics;
    while (index < graphics.size() && !graphics[index].passwd) {
        ++index;
    }
    if (index == graphics.size()) {
        then();
        return;
    }
    // QMP's protocol names are libvirt's graphics types ("vnc", "spice").
    const GraphicsDef& g = graphics[index];
    std::string protocol = g.type;
    auto next = [this, index, then] { setGraphicsPasswordFrom(index + 1, then); };
    auto guard = m_lifetime.guard();
    nlohmann::json args{{"protocol", protocol}, {"password", *g.passwd}};
    m_qmp.execute(
        "set_password", args,
        [this, guard, next, protocol, validTo = g.passwdValidTo](Result<nlohmann::json> r) {
            if (!guard.alive() || m_phase != MachinePhase::Launching) {
                return;
            }
            if (!r) {
                failStart(r.takeError().prefix("setting the " + protocol + " password"));
                return;
            }
            if (!validTo) {
                next();
                return;
            }
            // QMP takes an absolute expiry as seconds since the epoch, in a string.
            nlohmann::json expiry{{"protocol", protocol}, {"time", std::to_string(*validTo)}};
            m_qmp.execute("expire_password", expiry,
                          [this, guard, next, protocol](Result<nlohmann::json> expired) {
                              if (!guard.alive() || m_phase != MachinePhase::Launching) {
                                  return;
                              }
                              if (!expired) {
                                  failStart(expired.takeError().prefix("expiring the " + protocol +
                                                                       " password"));
                                  return;
                              }
                              next();
                          });
        });
}

// QEMU picks a VNC autoport's display itself (-vnc ...,to=99): the live definition shows
// the port it took, from query-vnc, so clients that connect by port (virsh domdisplay,
// Cockpit, virt-viewer) find the guest. A failed query costs only the port in the XML.
void Machine::recordVncPort(std::function<void()> then) {
    if (!autoportVnc(m_domain.def)) {
        then();
        return;
    }
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-vnc", nlohmann::json::object(),
                  [this, guard, then](Result<nlohmann::json> r) {
                      if (!guard.alive()) {
                          return;
                      }
                      int port = -1;
                      if (r && r.value().value("enabled", false)) {
                          std::string service = r.value().value("service", "");
                          port = std::atoi(service.c_str());
                      }
                      if (port <= 0) {
                          log::warning("QEMU did not report its VNC port" +
                                       (r ? std::string() : ": " + r.error().message()));
                      } else if (auto live = withGraphicsPort(m_domain, "vnc", port)) {
                          commitLiveDefinition(std::move(live).value());
                      }
                      then();
                  });
}

void Machine::addGraphicsClient(uint32_t index, int socket, bool skipAuth, Done done) {
    if (!inPhase({MachinePhase::Running, MachinePhase::Paused})) {
        done(Error(Code::InvalidState, "domain is not running"));
        return;
    }
    const auto& graphics = m_domain.def.graphics;
    if (index >= graphics.size()) {
        done(Error(Code::InvalidArgs, "No graphics backend with index " + std::to_string(index)));
        return;
    }
    // QMP's protocol names are libvirt's graphics types.
    std::string protocol = graphics[index].type;
    if (protocol != "vnc" && protocol != "spice") {
        done(Error(Code::NotSupported,
                   "Can only open VNC or SPICE graphics backends, not " + protocol));
        return;
    }
    // A name per client: two opens at once must not take each other's socket.
    std::string fdName = "graphics-client-" + std::to_string(++m_graphicsClients);
    nlohmann::json client{
        {"protocol", protocol}, {"fdname", fdName}, {"skipauth", skipAuth}, {"tls", false}};
    auto guard = m_lifetime.guard();
    m_qmp.executeWithFd("getfd", {{"fdname", fdName}}, socket,
                        [this, guard, client, done](Result<nlohmann::json> r) {
                            if (!guard.alive()) {
                                return;
                            }
                            if (!r) {
                                done(r.takeError().prefix("handing the socket to QEMU"));
                                return;
                            }
                            addNamedGraphicsClient(client, done);
                        });
}

// add_client of the socket the monitor holds under client["fdname"]. One QEMU refuses
// stays with the monitor: it is closed there.
void Machine::addNamedGraphicsClient(const nlohmann::json& client, Done done) {
    std::string fdName = client.at("fdname");
    auto guard = m_lifetime.guard();
    m_qmp.execute("add_client", client, [this, guard, fdName, done](Result<nlohmann::json> added) {
        if (!guard.alive()) {
            return;
        }
        if (!added) {
            m_qmp.execute("closefd", {{"fdname", fdName}}, [](Result<nlohmann::json>) {});
            done(added.takeError().prefix("adding the graphics client"));
            return;
        }
        done(success());
    });
}

} // namespace virtswarm::shim
