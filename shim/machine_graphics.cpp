// SPDX-License-Identifier: LGPL-2.1-or-later
// Graphics passwords (VNC and SPICE): QEMU starts with authentication on and no password
// (VNC password=on, SPICE with ticketing), so nobody can log in, and the shim sets the
// password over the monitor while the guest is still stopped under -S. The command line,
// which every user can read in /proc/<pid>/cmdline, never holds it.
#include "machine.hpp"

namespace virtswarm::shim {

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

} // namespace virtswarm::shim
