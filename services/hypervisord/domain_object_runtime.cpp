// SPDX-License-Identifier: LGPL-2.1-or-later
// The Domain methods that act on the running VM through its shim: reboot, reset,
// suspend, resume, statistics, console and device hotplug.
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/domain_devices.hpp"

#include <algorithm>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>

namespace virtswarm::hypervisor {
void DomainObject::forwardToShim(sdbus::Result<>&& result, const Options& options,
                                 const actions::MethodAction& action,
                                 std::initializer_list<DomainState> states, const char* method) {
    m_gate.handle(std::move(result), checkOptions(options, {}), action,
                  [this, allowedStates = std::vector<DomainState>(states),
                   methodName = std::string(method)](const SharedResult<>& shared) {
                      if (std::find(allowedStates.begin(), allowedStates.end(), m_model.state()) ==
                          allowedStates.end()) {
                          reply(shared, wrongState());
                          return;
                      }
                      m_registry.shims().callMethod(uuidHex(), methodName,
                                                    m_registry.config().shimCallTimeout,
                                                    [shared](Result<void> r) { reply(shared, r); });
                  });
}

void DomainObject::Reboot(sdbus::Result<>&& result, Options options) {
    // mode: "acpi" (default) or "agent"; the shim checks the value.
    m_gate.handle(std::move(result), checkOptions(options, {"mode"}), domainAction("Reboot"),
                  [this, options](const SharedResult<>& shared) {
                      if (m_model.state() != DomainState::Running) {
                          reply(shared, wrongState());
                          return;
                      }
                      m_registry.shims().callVoid(
                          uuidHex(), "Reboot", m_registry.config().shimCallTimeout,
                          [shared](Result<void> r) { reply(shared, r); }, options);
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
    m_gate.handle(std::move(result), checkOptions(options, {}), domainAction("GetStats"),
                  [this](const SharedResult<Options>& shared) {
                      if (!active()) {
                          collectStats({},
                                       [shared](Options stats) { shared->returnResults(stats); });
                          return;
                      }
                      // A single domain's stats are the caller's explicit question: a shim
                      // that does not answer is an error here (Timeout), unlike in
                      // Manager.GetAllStats.
                      m_registry.shims().call<Options>(
                          uuidHex(), "GetStats", m_registry.config().shimCallTimeout,
                          [shared](Result<Options> stats) { reply(shared, stats); }, Options{});
                  });
}

void DomainObject::GetJobInfo(sdbus::Result<Options>&& result, Options options) {
    auto completed = boolOption(options, "completed", false);
    auto keep = boolOption(options, "keep-completed", false);
    m_gate.handle(std::move(result),
                  service::firstError(
                      checkOptions(options, {"completed", "keep-completed"}), completed, keep,
                      keep.value_or(false) && !completed.value_or(false)
                          ? Result<void>(Error(Code::InvalidArgs, "option keep-completed requires "
                                                                  "completed"))
                          : success()),
                  domainAction("GetJobInfo"),
                  [this, completed = completed.value_or(false),
                   keep = keep.value_or(false)](const SharedResult<Options>& shared) {
                      if (completed) {
                          // As libvirt: the figures of the last finished job, whether the
                          // domain runs or not, forgotten once read unless kept.
                          Options job = m_completedJob
                                            ? *m_completedJob
                                            : Options{{"type", sdbus::Variant(int32_t{0})}};
                          if (!keep) {
                              m_completedJob.reset();
                          }
                          reply(shared, Result<Options>(std::move(job)));
                          return;
                      }
                      if (!active()) {
                          fail(shared, notRunning(def().name));
                          return;
                      }
                      m_registry.shims().call<Options>(
                          uuidHex(), "GetJobInfo", m_registry.config().shimCallTimeout,
                          [shared](Result<Options> job) { reply(shared, job); }, Options{});
                  });
}

void DomainObject::AbortJob(sdbus::Result<>&& result, Options options) {
    forwardToShim(std::move(result), options, domainAction("AbortJob"),
                  {DomainState::Running, DomainState::Paused}, "AbortJob");
}

void DomainObject::InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                                      Options options) {
    // As libvirt (domain:write for the agent source): the call makes the shim talk to
    // the guest, which costs more than reading what the swarm knows.
    m_gate.handle(std::move(result), checkOptions(options, {"source"}),
                  domainAction("InterfaceAddresses"),
                  [this, options](const SharedResult<std::vector<GuestInterfaceWire>>& shared) {
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

void DomainObject::GetTime(sdbus::Result<int64_t, uint32_t>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), domainAction("GetTime"),
                  [this](const SharedResult<int64_t, uint32_t>& shared) {
                      if (!active()) {
                          fail(shared, notRunning(def().name));
                          return;
                      }
                      m_registry.shims().call<sdbus::Struct<int64_t, uint32_t>>(
                          uuidHex(), "GetTime", m_registry.config().shimCallTimeout,
                          [shared](Result<sdbus::Struct<int64_t, uint32_t>> time) {
                              if (!time) {
                                  fail(shared, time.error());
                                  return;
                              }
                              shared->returnResults(time.value().get<0>(), time.value().get<1>());
                          },
                          Options{});
                  });
}

void DomainObject::SetTime(sdbus::Result<>&& result, int64_t seconds, uint32_t nseconds,
                           Options options) {
    auto sync = boolOption(options, "sync", false);
    m_gate.handle(
        std::move(result), service::firstError(checkOptions(options, {"sync"}), sync),
        domainAction("SetTime"), [this, seconds, nseconds, options](const SharedResult<>& shared) {
            if (!active()) {
                reply(shared, notRunning(def().name));
                return;
            }
            m_registry.shims().callVoid(
                uuidHex(), "SetTime", m_registry.config().shimCallTimeout,
                [shared](Result<void> r) { reply(shared, r); }, seconds, nseconds, options);
        });
}

void DomainObject::GetHostname(sdbus::Result<std::string>&& result, Options options) {
    auto source = stringOption(options, "source", "agent");
    Result<void> agentOnly =
        source && source.value() != "agent"
            ? Result<void>(Error(Code::NotSupported, "host name source '" + source.value() +
                                                         "' is not supported (agent)"))
            : success();
    m_gate.handle(std::move(result),
                  service::firstError(checkOptions(options, {"source"}), source, agentOnly),
                  domainAction("GetHostname"), [this](const SharedResult<std::string>& shared) {
                      if (!active()) {
                          fail(shared, notRunning(def().name));
                          return;
                      }
                      m_registry.shims().call<std::string>(
                          uuidHex(), "GetHostname", m_registry.config().shimCallTimeout,
                          [shared](Result<std::string> name) { reply(shared, name); }, Options{});
                  });
}

void DomainObject::OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                               Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {"force"}), domainAction("OpenConsole"),
                  [this, device, options](const SharedResult<sdbus::UnixFd>& shared) {
                      if (!active()) {
                          fail(shared, notRunning(def().name));
                          return;
                      }
                      // force: end another client's session on this console (the shim checks the
                      // type). The shim opens the pty and the fd crosses the bus twice, never a
                      // path.
                      m_registry.shims().call<sdbus::UnixFd>(
                          uuidHex(), "OpenConsole", m_registry.config().shimCallTimeout,
                          [shared](Result<sdbus::UnixFd> fd) { reply(shared, fd); }, device,
                          options);
                  });
}

namespace {

// Only a connected stream socket can be a graphics client; anything else is refused here,
// before the guest's monitor sees it.
Result<void> checkGraphicsSocket(const sdbus::UnixFd& socket) {
    struct stat st {};
    int type = 0;
    socklen_t length = sizeof type;
    if (::fstat(socket.get(), &st) != 0 || !S_ISSOCK(st.st_mode) ||
        ::getsockopt(socket.get(), SOL_SOCKET, SO_TYPE, &type, &length) != 0 ||
        type != SOCK_STREAM) {
        return Error(Code::InvalidArgs, "the graphics client's descriptor is not a stream socket");
    }
    return success();
}

} // namespace

void DomainObject::OpenGraphics(sdbus::Result<sdbus::UnixFd>&& result, uint32_t index,
                                Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {"skip-auth"}),
                  domainAction("OpenGraphics"),
                  [this, index, options](const SharedResult<sdbus::UnixFd>& shared) {
                      if (!active()) {
                          fail(shared, notRunning(def().name));
                          return;
                      }
                      int ends[2];
                      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
                          fail(shared, Error(Code::Internal,
                                             std::string("socketpair: ") + std::strerror(errno)));
                          return;
                      }
                      sdbus::UnixFd ours(ends[0], sdbus::adopt_fd);
                      sdbus::UnixFd qemus(ends[1], sdbus::adopt_fd);
                      // The shim hands QEMU its end; the caller gets the other.
                      m_registry.shims().callVoid(
                          uuidHex(), "AddGraphicsClient", m_registry.config().shimCallTimeout,
                          [shared, ours](Result<void> r) {
                              reply(shared, r ? Result<sdbus::UnixFd>(ours)
                                              : Result<sdbus::UnixFd>(r.takeError()));
                          },
                          index, qemus, options);
                  });
}

void DomainObject::AddGraphicsClient(sdbus::Result<>&& result, uint32_t index, sdbus::UnixFd socket,
                                     Options options) {
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"skip-auth"}), checkGraphicsSocket(socket)),
        domainAction("AddGraphicsClient"),
        [this, index, socket, options](const SharedResult<>& shared) {
            if (!active()) {
                fail(shared, notRunning(def().name));
                return;
            }
            m_registry.shims().callVoid(
                uuidHex(), "AddGraphicsClient", m_registry.config().shimCallTimeout,
                [shared](Result<void> r) { reply(shared, r); }, index, socket, options);
        });
}

void DomainObject::changeDevice(sdbus::Result<>&& result, const std::string& xml,
                                const Options& options, bool attach) {
    auto config = boolOption(options, "config", false);
    auto spec = parseDeviceXml(xml);
    bool persist = config && config.value();
    m_gate.handle(
        std::move(result), service::firstError(checkOptions(options, {"config"}), config, spec),
        attach ? domainAction("AttachDevice") : domainAction("DetachDevice"),
        [this, spec = spec ? spec.value() : DeviceSpec{}, persist,
         attach](const SharedResult<>& shared) {
            if (persist && !m_model.persistent()) {
                reply(shared,
                      Error(Code::InvalidState, "a transient domain has no persistent config"));
                return;
            }
            // The persistent definition is checked first, so a device that cannot go into it
            // is refused before the guest sees anything.
            std::optional<DomainXml> nextConfig;
            if (persist) {
                const DomainXml& base = m_model.nextDomain();
                auto updated = attach ? withDeviceAdded(base, spec) : withDeviceRemoved(base, spec);
                if (!updated) {
                    reply(shared, updated.error());
                    return;
                }
                nextConfig = std::move(updated).value();
            }
            if (!active() && !persist) {
                reply(shared, notRunning(def().name));
                return;
            }
            LiveStep live;
            if (active()) {
                live = [this, attach, device = spec.xml](ShimDone done) {
                    m_registry.shims().callVoid(uuidHex(), attach ? "AttachDevice" : "DetachDevice",
                                                m_registry.config().shimCallTimeout +
                                                    std::chrono::seconds(20),
                                                std::move(done), device, Options{});
                };
            }
            changeLiveThenConfig(std::move(live), std::move(nextConfig),
                                 [shared](Result<void> r) { reply(shared, r); });
        });
}

void DomainObject::UpdateDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    auto flags = affectOptions(options, {});
    m_gate.handle(
        std::move(result), service::firstError(flags), domainAction("UpdateDevice"),
        [this, xml, flags = flags ? flags.value() : Affect{}](const SharedResult<>& shared) {
            auto affect = resolveAffect(flags);
            if (!affect) {
                reply(shared, affect.error());
                return;
            }
            bool config = affect.value().config;
            // The persistent definition is checked first (libvirt's order), so a change that
            // cannot go into it is refused before the guest sees anything.
            auto spec = parseMediaChange(xml, !config);
            if (!spec) {
                reply(shared, spec.error());
                return;
            }
            std::optional<DomainXml> nextConfig;
            if (config) {
                auto updated = withMediaChanged(m_model.nextDomain(), spec.value(), false);
                if (!updated) {
                    reply(shared, updated.error());
                    return;
                }
                nextConfig = std::move(updated).value();
            }
            LiveStep live;
            if (affect.value().live) {
                live = [this, media = spec.value().xml](ShimDone done) {
                    m_registry.shims().callVoid(uuidHex(), "UpdateDevice",
                                                m_registry.config().shimCallTimeout,
                                                std::move(done), media, Options{});
                };
            }
            changeLiveThenConfig(std::move(live), std::move(nextConfig),
                                 [shared](Result<void> r) { reply(shared, r); });
        });
}

void DomainObject::AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    changeDevice(std::move(result), xml, options, true);
}

void DomainObject::DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    changeDevice(std::move(result), xml, options, false);
}

} // namespace virtswarm::hypervisor
