// SPDX-License-Identifier: LGPL-2.1-or-later
// The Domain methods that act on the running VM through its shim: reboot, reset,
// suspend, resume, statistics, console and device hotplug.
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/domain_devices.hpp"

#include <algorithm>

namespace virtswarm::hypervisor {
void DomainObject::forwardToShim(sdbus::Result<>&& result, const Options& options,
                                 std::string_view actionId,
                                 std::initializer_list<DomainState> states, const char* method) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        reply(shared, r);
        return;
    }
    std::vector<DomainState> allowedStates(states);
    std::string methodName = method;
    authorize(actionId, [this, shared, allowedStates, methodName](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (std::find(allowedStates.begin(), allowedStates.end(), m_model.state()) ==
            allowedStates.end()) {
            reply(shared, wrongState());
            return;
        }
        m_registry.shims().callMethod(uuidHex(), methodName, m_registry.config().shimCallTimeout,
                                      [shared](Result<void> r) { reply(shared, std::move(r)); });
    });
}

void DomainObject::Reboot(sdbus::Result<>&& result, Options options) {
    // mode: "acpi" (default) or "agent"; the shim checks the value.
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {"mode"}); !r) {
        reply(shared, r);
        return;
    }
    authorize(domainAction("Reboot"), [this, shared, options](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (m_model.state() != DomainState::Running) {
            reply(shared, wrongState());
            return;
        }
        m_registry.shims().callVoid(
            uuidHex(), "Reboot", m_registry.config().shimCallTimeout,
            [shared](Result<void> r) { reply(shared, std::move(r)); }, options);
    });
}

void DomainObject::Reset(sdbus::Result<>&& result, Options options) {
    forwardToShim(std::move(result), options, domainAction("Reset"),
                  {DomainState::Running, DomainState::Paused}, "Reset");
}

void DomainObject::Suspend(sdbus::Result<>&& result, Options options) {
    // Paused too: suspending a paused domain succeeds in libvirt (the shim answers at once).
    forwardToShim(std::move(result), options, domainAction("Suspend"),
                  {DomainState::Running, DomainState::Paused}, "Suspend");
}

void DomainObject::Resume(sdbus::Result<>&& result, Options options) {
    forwardToShim(std::move(result), options, domainAction("Resume"), {DomainState::Paused},
                  "Resume");
}

void DomainObject::collectStats(std::chrono::milliseconds timeout,
                                std::function<void(Options)> done) {
    DomainState state = m_model.state();
    Options stateOnly{
        {"state.state", sdbus::Variant(libvirtNumber(state))},
        {"state.reason", sdbus::Variant(libvirtReasonNumber(state, m_model.reason()))}};
    if (!active()) {
        done(std::move(stateOnly));
        return;
    }
    m_registry.shims().call<Options>(
        uuidHex(), "GetStats", timeout,
        [done, stateOnly](Result<Options> stats) mutable {
            if (!stats) {
                stateOnly.emplace("unavailable", sdbus::Variant(true));
                stateOnly.emplace("unavailable.reason",
                                  sdbus::Variant(std::string(stats.error().dbusName())));
                done(std::move(stateOnly));
                return;
            }
            done(std::move(stats).value());
        },
        Options{});
}

void DomainObject::GetStats(sdbus::Result<Options>&& result, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        fail(shared, r.error());
        return;
    }
    authorize(domainAction("GetStats"), [this, shared](Result<void> allowed) {
        if (!allowed) {
            fail(shared, allowed.error());
            return;
        }
        if (!active()) {
            collectStats({}, [shared](Options stats) { shared->returnResults(stats); });
            return;
        }
        // A single domain's stats are the caller's explicit question: a shim that does not
        // answer is an error here (Timeout), unlike in Manager.GetAllStats.
        m_registry.shims().call<Options>(
            uuidHex(), "GetStats", m_registry.config().shimCallTimeout,
            [shared](Result<Options> stats) { reply(shared, stats); }, Options{});
    });
}

void DomainObject::InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                                      Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {"source"}); !r) {
        fail(shared, r.error());
        return;
    }
    // As libvirt (domain:write for the agent source): the call makes the shim talk to
    // the guest, which costs more than reading what the swarm knows.
    authorize(domainAction("InterfaceAddresses"), [this, shared, options](Result<void> allowed) {
        if (!allowed) {
            fail(shared, allowed.error());
            return;
        }
        if (!active()) {
            fail(shared, notRunning(def().name));
            return;
        }
        m_registry.shims().call<std::vector<GuestInterfaceWire>>(
            uuidHex(), "InterfaceAddresses", m_registry.config().shimCallTimeout,
            [shared](Result<std::vector<GuestInterfaceWire>> interfaces) {
                reply(shared, interfaces);
            },
            options);
    });
}

void DomainObject::OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                               Options options) {
    auto shared = share(std::move(result));
    // force: end another client's session on this console (the shim checks the type).
    if (auto r = checkOptions(options, {"force"}); !r) {
        fail(shared, r.error());
        return;
    }
    authorize(domainAction("OpenConsole"), [this, shared, device, options](Result<void> allowed) {
        if (!allowed) {
            fail(shared, allowed.error());
            return;
        }
        if (!active()) {
            fail(shared, notRunning(def().name));
            return;
        }
        // The shim opens the pty and the fd crosses the bus twice, never a path.
        m_registry.shims().call<sdbus::UnixFd>(
            uuidHex(), "OpenConsole", m_registry.config().shimCallTimeout,
            [shared](Result<sdbus::UnixFd> fd) { reply(shared, fd); }, device, options);
    });
}

void DomainObject::changeDevice(sdbus::Result<>&& result, const std::string& xml,
                                const Options& options, bool attach) {
    auto shared = share(std::move(result));
    auto config = boolOption(options, "config", false);
    if (auto r = checkOptions(options, {"config"}); !r || !config) {
        reply(shared, !r ? r : Result<void>(config.error()));
        return;
    }
    auto spec = parseDeviceXml(xml);
    if (!spec) {
        reply(shared, spec.error());
        return;
    }
    bool persist = config.value();
    authorize(attach ? domainAction("AttachDevice") : domainAction("DetachDevice"),
              [this, shared, spec = spec.value(), persist, attach](Result<void> allowed) {
                  if (!allowed) {
                      reply(shared, allowed);
                      return;
                  }
                  if (persist && !m_model.persistent()) {
                      reply(shared, Error(Code::InvalidState,
                                          "a transient domain has no persistent config"));
                      return;
                  }
                  // The persistent definition is checked first, so a device that cannot go into it
                  // is refused before the guest sees anything.
                  std::optional<DomainXml> nextConfig;
                  if (persist) {
                      const DomainXml& base = m_model.nextDomain();
                      auto updated =
                          attach ? withDeviceAdded(base, spec) : withDeviceRemoved(base, spec);
                      if (!updated) {
                          reply(shared, updated.error());
                          return;
                      }
                      nextConfig = std::move(updated).value();
                  }
                  auto saveConfig = [this, shared, nextConfig]() {
                      if (!nextConfig) {
                          reply(shared, success());
                          return;
                      }
                      if (auto r = m_registry.store().save(*nextConfig); !r) {
                          reply(shared, r);
                          return;
                      }
                      m_model.redefine(*nextConfig);
                      reply(shared, success());
                  };
                  if (!active()) {
                      if (!persist) {
                          reply(shared, notRunning(def().name));
                          return;
                      }
                      saveConfig();
                      return;
                  }
                  auto guard = m_lifetime.guard();
                  m_registry.shims().callVoid(
                      uuidHex(), attach ? "AttachDevice" : "DetachDevice",
                      m_registry.config().shimCallTimeout + std::chrono::seconds(20),
                      [guard, shared, saveConfig](Result<void> r) {
                          if (!r || !guard.alive()) {
                              reply(shared, r);
                              return;
                          }
                          saveConfig();
                      },
                      spec.xml, Options{});
              });
}

void DomainObject::AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    changeDevice(std::move(result), xml, options, true);
}

void DomainObject::DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    changeDevice(std::move(result), xml, options, false);
}

} // namespace virtswarm::hypervisor
