// SPDX-License-Identifier: LGPL-2.1-or-later
// The VNC password: QEMU starts with password=on and no password (so nobody can log in),
// and the shim sets it over the monitor while the guest is still stopped under -S. The
// command line, which every user can read in /proc/<pid>/cmdline, never holds it.
#include "machine.hpp"

namespace virtswarm::shim {

void Machine::setGraphicsPassword(std::function<void()> then) {
    const auto& graphics = m_domain.def.graphics;
    if (graphics.empty() || !graphics.front().passwd) {
        then();
        return;
    }
    const GraphicsDef& vnc = graphics.front();
    auto guard = m_lifetime.guard();
    nlohmann::json args{{"protocol", "vnc"}, {"password", *vnc.passwd}};
    m_qmp.execute("set_password", args, [this, guard, then, vnc](Result<nlohmann::json> r) {
        if (!guard.alive() || m_phase != MachinePhase::Launching) {
            return;
        }
        if (!r) {
            failStart(r.takeError().prefix("setting the VNC password"));
            return;
        }
        if (!vnc.passwdValidTo) {
            then();
            return;
        }
        // QMP takes an absolute expiry as seconds since the epoch, in a string.
        nlohmann::json expiry{{"protocol", "vnc"}, {"time", std::to_string(*vnc.passwdValidTo)}};
        m_qmp.execute("expire_password", expiry,
                      [this, guard, then](Result<nlohmann::json> expired) {
                          if (!guard.alive() || m_phase != MachinePhase::Launching) {
                              return;
                          }
                          if (!expired) {
                              failStart(expired.takeError().prefix("expiring the VNC password"));
                              return;
                          }
                          then();
                      });
    });
}

} // namespace virtswarm::shim
