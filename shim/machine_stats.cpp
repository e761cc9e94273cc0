// SPDX-License-Identifier: LGPL-2.1-or-later
// Machine::stats: what libvirt's virDomainGetStats reports, from /proc and QMP
// (accounting.hpp does the reading and the naming).
#include "accounting.hpp"
#include "machine.hpp"
#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::shim {

Stats Machine::hostStats() const {
    Stats s;
    s.emplace_back("state.state", libvirtStateNumber(m_state));
    s.emplace_back("state.reason", libvirtReasonNumber(m_state, m_reason));
    if (m_pid > 0) {
        accounting::addCpuStats(s, m_pid);
    }
    accounting::addNetStats(s, m_domain.def);
    return s;
}

void Machine::stats(std::function<void(Result<Stats>)> done) {
    Stats base = hostStats();
    if (m_pid <= 0) {
        done(std::move(base));
        return;
    }
    // A monitor that is gone (QEMU is ending, or closed it) is no reason to refuse what
    // /proc still tells: a client polling a guest that powers off (virt-install --wait)
    // gets those figures, and the state change follows. A monitor that does not answer
    // stays an error (Timeout): that QEMU may be stuck.
    done = [hostOnly = base, done = std::move(done)](Result<Stats> r) mutable {
        if (!r && r.error().code() == Code::HypervisorGone) {
            done(std::move(hostOnly));
            return;
        }
        done(std::move(r));
    };
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    done = withBalloonStats(std::move(done));
    // Always a round trip to QEMU (query-cpus-fast), even for a guest without disks:
    // statistics from a QEMU that cannot answer would describe a VM nobody can vouch for.
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-cpus-fast", nlohmann::json::object(),
                  [this, guard, base = std::move(base), done](Result<nlohmann::json> cpus) mutable {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!cpus) {
                          done(cpus.takeError().prefix("vCPU statistics"));
                          return;
                      }
                      accounting::addVcpuStats(base, m_pid, m_domain.def.vcpus, cpus.value());
                      m_qmp.execute("query-balloon", nlohmann::json::object(),
                                    [this, guard, base = std::move(base),
                                     done](Result<nlohmann::json> balloon) mutable {
                                        if (!guard.alive()) {
                                            return;
                                        }
                                        // A machine without a balloon device: the definition's
                                        // size.
                                        std::optional<nlohmann::json> actual;
                                        if (balloon) {
                                            actual = balloon.value();
                                        }
                                        accounting::addBalloonStats(base, m_pid, m_domain.def,
                                                                    actual);
                                        if (m_domain.def.disks.empty()) {
                                            base.emplace_back("block.count", uint64_t{0});
                                            done(std::move(base));
                                            return;
                                        }
                                        blockStats(std::move(base), std::move(done));
                                    });
                  });
}

void Machine::blockStats(Stats base, std::function<void(Result<Stats>)> done) {
    auto guard = m_lifetime.guard();
    m_qmp.execute(
        "query-blockstats", nlohmann::json::object(),
        [this, guard, base = std::move(base), done](Result<nlohmann::json> counters) mutable {
            if (!guard.alive()) {
                return;
            }
            if (!counters) {
                done(counters.takeError().prefix("block statistics"));
                return;
            }
            m_qmp.execute(
                "query-block", nlohmann::json::object(),
                [this, guard, base = std::move(base), done,
                 counters = std::move(counters).value()](Result<nlohmann::json> blocks) mutable {
                    if (!guard.alive()) {
                        return;
                    }
                    if (!blocks) {
                        done(blocks.takeError().prefix("block information"));
                        return;
                    }
                    accounting::addBlockStats(base, m_domain.def, counters, blocks.value());
                    done(std::move(base));
                });
        });
}

} // namespace virtswarm::shim
