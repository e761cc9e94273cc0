// SPDX-License-Identifier: LGPL-2.1-or-later
// Machine: what it does for the platform elements once QEMU runs: the aliases of
// controllers, inputs and balloon in the live XML, and the virtio balloon's guest
// statistics (<memballoon><stats period='N'/>), read through QOM as libvirt does and
// reported as virDomainGetStats' balloon.* fields.
#include "machine.hpp"
#include "qemu_controllers.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::shim {

void Machine::annotatePlatformAliases(DomainXml& live) {
    bool q35 = isQ35Machine(live.def.machine);
    auto alias = [&](const char* element, size_t i, const std::string& id) {
        if (auto r = withAlias(live, element, i, id)) {
            live = std::move(r).value();
        }
    };
    for (size_t i = 0; i < live.def.controllers.size(); ++i) {
        const auto& c = live.def.controllers[i];
        alias("controller", i, qemuControllerId(c.type, c.index, q35));
    }
    for (size_t i = 0; i < live.def.inputs.size(); ++i) {
        alias("input", i, qemu_id::input(i));
    }
    if (live.def.memballoon.model == "virtio") {
        alias("memballoon", 0, qemu_id::balloon());
    }
}

void Machine::startBalloonStats() {
    const MemballoonDef& balloon = m_domain.def.memballoon;
    if (balloon.model != "virtio" || balloon.statsPeriod == 0) {
        return;
    }
    // Not a -device property: QEMU takes the polling interval only once the device exists.
    m_qmp.execute("qom-set",
                  {{"path", kBalloonQomPath},
                   {"property", "guest-stats-polling-interval"},
                   {"value", balloon.statsPeriod}},
                  [](Result<nlohmann::json> r) {
                      if (!r) {
                          log::warning("cannot set the balloon's statistics period: " +
                                       r.error().message());
                      }
                  });
}

std::function<void(Result<Stats>)>
Machine::withBalloonStats(std::function<void(Result<Stats>)> done) {
    const MemballoonDef& balloon = m_domain.def.memballoon;
    if (balloon.model != "virtio" || balloon.statsPeriod == 0) {
        return done;
    }
    return [this, guard = m_lifetime.guard(), done = std::move(done)](Result<Stats> base) {
        if (!guard.alive() || !base) {
            done(std::move(base));
            return;
        }
        m_qmp.execute(
            "qom-get", {{"path", kBalloonQomPath}, {"property", "guest-stats"}},
            [guard, done, stats = std::move(base).value()](Result<nlohmann::json> r) mutable {
                if (!guard.alive()) {
                    return;
                }
                // A guest without a balloon driver has no statistics yet: the host's
                // figures stand alone, as in libvirt.
                if (r && r.value().contains("stats")) {
                    const auto& st = r.value()["stats"];
                    struct Field {
                        const char* qemu;
                        const char* libvirt;
                        bool bytes;
                    };
                    static constexpr Field kFields[] = {
                        {"stat-swap-in", "balloon.swap_in", true},
                        {"stat-swap-out", "balloon.swap_out", true},
                        {"stat-major-faults", "balloon.major_fault", false},
                        {"stat-minor-faults", "balloon.minor_fault", false},
                        {"stat-free-memory", "balloon.unused", true},
                        {"stat-total-memory", "balloon.available", true},
                        {"stat-available-memory", "balloon.usable", true},
                        {"stat-disk-caches", "balloon.disk_caches", true},
                    };
                    for (const auto& f : kFields) {
                        auto it = st.find(f.qemu);
                        // QEMU reports -1 for what the guest did not tell.
                        if (it != st.end() && it->is_number_unsigned()) {
                            uint64_t v = it->get<uint64_t>();
                            stats.emplace_back(f.libvirt, f.bytes ? v / 1024 : v);
                        }
                    }
                    if (auto t = r.value().find("last-update");
                        t != r.value().end() && t->is_number_unsigned()) {
                        stats.emplace_back("balloon.last-update", t->get<uint64_t>());
                    }
                }
                done(std::move(stats));
            });
    };
}

} // namespace virtswarm::shim
