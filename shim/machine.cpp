// SPDX-License-Identifier: LGPL-2.1-or-later
#include "machine.hpp"

#include "qemu_command.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/child_process.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

// How long QEMU gets to exit after SIGTERM before SIGKILL (libvirt waits 10 s too).
constexpr auto kTermGrace = std::chrono::seconds(10);

} // namespace

Machine::Machine(EventLoop& loop, ShimFiles files, QemuLog& log, DomainXml domain,
                 QemuIdentity identity, HostPathOpener opener, BusMode mode, TapBroker* taps,
                 DiskLeases* leases, Listener listener)
    : m_loop(loop)
    , m_files(std::move(files))
    , m_log(log)
    , m_domain(std::move(domain))
    , m_identity(std::move(identity))
    , m_opener(std::move(opener))
    , m_tapBroker(taps)
    , m_leases(leases)
    , m_backends(loop, m_identity, mode)
    , m_listener(std::move(listener))
    , m_qmp(loop)
    , m_agent(loop, guestAgentLimits()) {
    m_qmp.onEvent(
        [this](const std::string& event, const nlohmann::json& data) { onEvent(event, data); });
    m_qmp.onClosed([this](const Error& why) { onMonitorClosed(why); });
    m_qmp.onEventsDropped([this] { resyncState(); });
}

Machine::~Machine() = default;

Result<void> Machine::enter(MachinePhase next) {
    if (next == m_phase) {
        return success();
    }
    if (auto r = checkTransition(m_phase, next); !r) {
        log::error(r.error().message());
        return r;
    }
    log::debug("phase " + std::string(toString(m_phase)) + " -> " + std::string(toString(next)));
    m_phase = next;
    return success();
}

bool Machine::inPhase(std::initializer_list<MachinePhase> phases) const {
    for (auto p : phases) {
        if (p == m_phase) {
            return true;
        }
    }
    return false;
}

void Machine::setState(const std::string& state, const std::string& reason) {
    if (state == m_state && reason == m_reason) {
        return;
    }
    m_state = state;
    m_reason = reason;
    log::info("state " + state + " (" + reason + ")");
    if (state != "shutoff") {
        // The state file lets a re-attaching shim report the reason this one knew.
        (void)writeFileAtomic(m_files.state, state + "\n" + reason + "\n", 0600);
    }
    if (m_listener.stateChanged) {
        m_listener.stateChanged(state, reason);
    }
}

Result<int> Machine::listenQmp() {
    // The shim binds the monitor socket and hands QEMU the listening fd: it exists before
    // QEMU runs (no connect-retry loop) and stays at a known path for re-attaching.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (m_files.qmpSocket.size() >= sizeof addr.sun_path) {
        return Error(Code::Internal, "QMP socket path too long: " + m_files.qmpSocket);
    }
    std::strcpy(addr.sun_path, m_files.qmpSocket.c_str());
    ::unlink(m_files.qmpSocket.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Error(Code::OperationFailed, std::string("socket: ") + std::strerror(errno));
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 1) < 0) {
        int err = errno;
        ::close(fd);
        return Error(Code::OperationFailed,
                     "cannot listen on " + m_files.qmpSocket + ": " + std::strerror(err));
    }
    return fd;
}

void Machine::launch(Done done) {
    if (auto r = enter(MachinePhase::Launching); !r) {
        done(r.error());
        return;
    }
    m_startDone = std::move(done);
    openVolumes(0);
}

// Once storaged resolved the volumes, every image is leased before anything else is
// made: a domain refused its images gets no TAP and no QEMU.
void Machine::leaseDisks() {
    auto guard = m_lifetime.guard();
    m_leases->acquire(m_domain.def.disks, m_opener, m_volumeFds,
                      [this, guard](Result<void> leased) {
                          if (!guard.alive() || m_phase != MachinePhase::Launching) {
                              return;
                          }
                          if (!leased) {
                              failStart(leased.takeError());
                              return;
                          }
                          acquireTaps(0);
                      });
}

void Machine::acquireTaps(size_t from) {
    const auto& nics = m_domain.def.interfaces;
    for (size_t i = from; i < nics.size(); ++i) {
        if (nics[i].type == "user") {
            continue;
        }
        if (m_tapBroker == nullptr) {
            failStart(Error(Code::Internal, "no connection to virtswarm-networkd"));
            return;
        }
        auto guard = m_lifetime.guard();
        m_tapBroker->acquire(nics[i], m_domain.def, [this, guard, i](Result<TapBroker::Tap> tap) {
            if (!guard.alive() || m_phase != MachinePhase::Launching) {
                if (tap) {
                    ::close(tap.value().fd);
                }
                return;
            }
            if (!tap) {
                failStart(tap.takeError());
                return;
            }
            m_taps[i] = tap.value();
            acquireTaps(i + 1);
        });
        return;
    }
    openLogAndSpawnQemu();
}

void Machine::openLogAndSpawnQemu() {
    auto guard = m_lifetime.guard();
    m_log.open(m_domain.def, m_opener, [this, guard](Result<QemuLog::Outputs> outputs) {
        if (!guard.alive()) {
            if (outputs) {
                closeOutputs(outputs.value());
            }
            return;
        }
        if (outputs && m_phase != MachinePhase::Launching) {
            // Destroyed while logd answered.
            closeOutputs(outputs.value());
            failStart(Error(Code::InvalidState, "the domain was stopped while it started"));
            return;
        }
        if (!outputs) {
            failStart(outputs.takeError());
            return;
        }
        spawnQemu(std::move(outputs).value());
    });
}

void Machine::spawnQemu(QemuLog::Outputs outputs) {
    int logFd = outputs.qemu;
    auto listenFd = listenQmp();
    if (!listenFd) {
        closeOutputs(outputs);
        failStart(listenFd.takeError());
        return;
    }
    constexpr int kQmpFdInChild = 3;
    QemuLaunch launch;
    launch.qmpFd = kQmpFdInChild;
    auto qemuFiles = QemuFiles::open(m_domain.def, launch, kQmpFdInChild + 1, m_opener,
                                     &m_volumeFds, &outputs.serialLogs);
    closeVolumeFds(m_volumeFds); // what QemuFiles did not take: a volume used twice
    outputs.qemu = -1;           // logFd: closed below
    closeOutputs(outputs);       // what QemuFiles did not take
    if (!qemuFiles) {
        ::close(listenFd.value());
        ::close(logFd);
        failStart(qemuFiles.takeError());
        return;
    }
    SpawnOptions spawn;
    spawn.passFds = {{listenFd.value(), kQmpFdInChild}};
    int nextChildFd = kQmpFdInChild + 1;
    for (auto pair : qemuFiles.value().passFds()) {
        spawn.passFds.push_back(pair);
        nextChildFd = std::max(nextChildFd, pair.second + 1);
    }
    for (const auto& [index, tap] : m_taps) {
        launch.tapFds[index] = nextChildFd;
        spawn.passFds.emplace_back(tap.fd, nextChildFd++);
    }
    if (auto r = m_backends.prepare(m_domain, m_files.dir, logFd, m_opener, launch, nextChildFd,
                                    spawn.passFds);
        !r) {
        m_backends.qemuStarted();
        m_backends.stop();
        ::close(listenFd.value());
        ::close(logFd);
        failStart(r.takeError());
        return;
    }
    spawn.argv = buildQemuArgv(m_domain.def, launch);
    addLoadSnapshot(spawn.argv);
    if (m_restoreFd >= 0) {
        m_restoring = true;
        addIncoming(spawn.argv, nextChildFd);
        spawn.passFds.emplace_back(m_restoreFd, nextChildFd++);
    }
    spawn.stdoutFd = logFd;
    spawn.stderrFd = logFd;
    spawn.uid = m_identity.uid;
    spawn.gid = m_identity.gid;
    std::string commandLine;
    for (const auto& a : spawn.argv) {
        commandLine += a + " ";
    }
    std::string header = "starting: " + commandLine + "\n";
    ssize_t ignored = ::write(logFd, header.data(), header.size());
    (void)ignored;
    auto pid = spawnProcess(spawn);
    m_backends.qemuStarted();
    ::close(listenFd.value());
    ::close(logFd);
    if (m_restoreFd >= 0) {
        ::close(m_restoreFd);
        m_restoreFd = -1;
    }
    // QEMU holds the TAPs now; when it exits they disappear.
    for (auto& [index, tap] : m_taps) {
        ::close(tap.fd);
        tap.fd = -1;
    }
    if (!pid) {
        m_backends.stop();
        failStart(pid.takeError());
        return;
    }
    m_pid = pid.value();
    (void)writeFileAtomic(m_files.qemuPid, std::to_string(m_pid) + "\n", 0644);
    m_leases->recordProcess(m_pid);
    dropShimPrivileges(m_opener.switchesCredentials());
    annotateAliases();
    auto guard = m_lifetime.guard();
    m_exitWatch = m_loop.addChild(m_pid, [this, guard](const siginfo_t& info) {
        if (guard.alive()) {
            onQemuExit(info);
        }
    });
    m_qmp.connect(m_files.qmpSocket, [this, guard](Result<void> ready) {
        if (!guard.alive() || m_phase != MachinePhase::Launching) {
            return;
        }
        if (!ready) {
            Error why = ready.takeError().prefix("QEMU monitor");
            if (why.code() != Code::HypervisorGone) {
                failStart(std::move(why));
                return;
            }
            // The monitor closing during the handshake is usually QEMU exiting on an error;
            // its own message (via onQemuExit) says far more. Give it a moment to exit.
            m_killTimer = m_loop.addTimer(std::chrono::seconds(2), [this, guard, why] {
                if (guard.alive()) {
                    failStart(why);
                }
            });
            return;
        }
        // QEMU has opened its chardevs' logs: their pipes may be made non-blocking.
        m_log.qemuStarted();
        // The consoles are known before the guest runs, so OpenConsole works the moment
        // Start has answered.
        discoverPtys([this, guard] {
            if (m_phase != MachinePhase::Launching) {
                return;
            }
            awaitRestore([this] {
                setGraphicsPassword([this] { recordVncPort([this] { resumeStartedGuest(); }); });
            });
        });
    });
}

void Machine::resumeStartedGuest() {
    if (m_phase != MachinePhase::Launching) {
        return;
    }
    // A start from a snapshot's memory says so, as libvirt's revert does.
    bool fromSnapshot = !m_loadSnapshot.empty();
    if (m_startPaused) {
        (void)enter(MachinePhase::Paused);
        setState("paused", fromSnapshot ? "from-snapshot" : "user");
        finishLaunch();
        return;
    }
    auto guard = m_lifetime.guard();
    m_qmp.execute("cont", nlohmann::json::object(),
                  [this, guard, fromSnapshot](Result<nlohmann::json> r) {
                      if (!guard.alive() || m_phase != MachinePhase::Launching) {
                          return;
                      }
                      if (!r) {
                          failStart(r.takeError().prefix("resuming the guest"));
                          return;
                      }
                      (void)enter(MachinePhase::Running);
                      setState("running", m_restoring    ? "restored"
                                          : fromSnapshot ? "from-snapshot"
                                                         : "booted");
                      finishLaunch();
                  });
}

void Machine::finishLaunch() {
    startBalloonStats();
    setBootBalloon();
    if (auto startDone = std::move(m_startDone)) {
        m_startDone = nullptr;
        startDone(success());
    }
}

void Machine::attach(Done done) {
    if (auto r = enter(MachinePhase::Attaching); !r) {
        done(r.error());
        return;
    }
    dropShimPrivileges(m_opener.switchesCredentials());
    auto pidText = readFile(m_files.qemuPid, 64);
    m_pid = pidText ? static_cast<pid_t>(std::atol(pidText.value().c_str())) : 0;
    int pidfd = m_pid > 1 ? static_cast<int>(syscall(SYS_pidfd_open, m_pid, 0)) : -1;
    if (pidfd < 0) {
        done(Error(Code::HypervisorGone, "no QEMU to attach to"));
        return;
    }
    auto guard = m_lifetime.guard();
    // Not our child: its exit is seen through a pidfd, without a status.
    m_exitWatch = m_loop.addIo(pidfd, EPOLLIN, [this, guard, pidfd](uint32_t) {
        if (guard.alive()) {
            m_exitWatch.reset();
            ::close(pidfd);
            onQemuExit(std::nullopt);
        }
    });
    if (auto previous = readFile(m_files.state, 256)) {
        const std::string& t = previous.value();
        auto nl = t.find('\n');
        m_state = t.substr(0, nl);
        m_reason =
            nl == std::string::npos ? "unknown" : t.substr(nl + 1, t.find('\n', nl + 1) - nl - 1);
    }
    m_qmp.connect(m_files.qmpSocket, [this, guard, done](Result<void> ready) {
        if (!guard.alive()) {
            return;
        }
        if (!ready) {
            done(ready.takeError().prefix("re-attaching to QEMU"));
            return;
        }
        m_qmp.execute(
            "query-status", nlohmann::json::object(),
            [this, guard, done](Result<nlohmann::json> r) {
                if (!guard.alive()) {
                    return;
                }
                if (!r) {
                    done(r.takeError().prefix("re-attaching to QEMU"));
                    return;
                }
                // QEMU's own word wins over the state file where they disagree.
                bool running = r.value().value("running", false);
                std::string state = running ? "running" : "paused";
                std::string reason = state == m_state ? m_reason : running ? "unpaused" : "user";
                m_state.clear();
                discoverPtys([this, running, state, reason, done] {
                    reconnectAgent();
                    retakeVolumeHolds(0);
                    m_leases->takeOver(m_domain.def.disks);
                    // A destroy may have come first: QEMU's exit reports the end then.
                    if (enter(running ? MachinePhase::Running : MachinePhase::Paused)) {
                        setState(state, reason);
                    }
                    done(success());
                });
            });
    });
}

void Machine::failStart(Error error) {
    // A destroy during the launch moved on to Stopping; the start still gets its answer.
    if (m_phase != MachinePhase::Launching && !m_startDone) {
        return;
    }
    if (m_phase == MachinePhase::Launching) {
        (void)enter(MachinePhase::Failed);
    }
    closeVolumeFds(m_volumeFds);
    for (auto& [index, tap] : m_taps) {
        if (tap.fd >= 0) {
            ::close(tap.fd);
            tap.fd = -1;
        }
    }
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
    }
    if (auto done = std::move(m_startDone)) {
        m_startDone = nullptr;
        done(std::move(error));
    }
}

void Machine::simpleCommand(const std::string& command, Done done) {
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    m_qmp.execute(command, nlohmann::json::object(), [done](Result<nlohmann::json> r) {
        done(r ? success() : Result<void>(r.takeError()));
    });
}

void Machine::shutdown(std::optional<std::chrono::seconds> timeout, PowerMode mode, Done done) {
    auto guard = m_lifetime.guard();
    auto ask = [this, mode](Done asked) {
        if (mode == PowerMode::Agent) {
            agentPowerCommand("powerdown", std::move(asked));
        } else {
            simpleCommand("system_powerdown", std::move(asked));
        }
    };
    ask([this, guard, timeout, done](Result<void> r) {
        if (guard.alive() && r && timeout) {
            m_shutdownTimer = m_loop.addTimer(*timeout, [this, guard] {
                if (guard.alive() && m_pid > 0) {
                    log::notice("guest did not power off in time; destroying it");
                    destroy([](Result<void>) {});
                }
            });
        }
        done(std::move(r));
    });
}

void Machine::reboot(PowerMode mode, Done done) {
    if (mode == PowerMode::Agent) {
        // The guest reboots itself; QEMU resets the machine, the domain keeps running.
        agentPowerCommand("reboot", std::move(done));
        return;
    }
    auto guard = m_lifetime.guard();
    simpleCommand("system_powerdown", [this, guard, done](Result<void> r) {
        if (guard.alive() && r) {
            m_onPowerOff = OnPowerOff::Reset;
        }
        done(std::move(r));
    });
}

void Machine::reset(Done done) {
    simpleCommand("system_reset", std::move(done));
}

void Machine::suspend(Done done) {
    // libvirt's qemuDomainSuspend returns success for a domain that is already paused.
    if (m_state == "paused") {
        done(success());
        return;
    }
    if (m_state != "running") {
        done(Error(Code::InvalidState, "domain is not running"));
        return;
    }
    simpleCommand("stop", std::move(done));
}

void Machine::resume(Done done) {
    if (m_state != "paused") {
        done(Error(Code::InvalidState, "domain is not paused"));
        return;
    }
    simpleCommand("cont", std::move(done));
}

void Machine::destroy(Done done) {
    if (m_pid <= 0) {
        done(Error(Code::InvalidState, "QEMU is not running"));
        return;
    }
    m_destroyWaiters.push_back(std::move(done));
    if (inPhase({MachinePhase::Stopping, MachinePhase::Saved})) {
        return; // already on its way out (a written save stays "saved")
    }
    if (!enter(MachinePhase::Stopping)) {
        return; // the waiter is answered when QEMU is gone
    }
    ::kill(m_pid, SIGTERM);
    auto guard = m_lifetime.guard();
    m_killTimer = m_loop.addTimer(kTermGrace, [this, guard] {
        if (guard.alive() && m_pid > 0) {
            log::warning("QEMU ignored SIGTERM; killing it");
            ::kill(m_pid, SIGKILL);
        }
    });
}

void Machine::onEvent(const std::string& event, const nlohmann::json& data) {
    log::debug("QMP event " + event);
    if (event == "SHUTDOWN") {
        // QEMU runs with -no-shutdown: the guest powered off but QEMU waits for us, so a
        // reboot can reset it instead, and otherwise we tell it to quit.
        // <on_poweroff>restart</on_poweroff>: a guest power-off is a reboot.
        bool restartOnPoweroff = m_domain.def.platform.onPoweroff == "restart" &&
                                 m_phase != MachinePhase::Stopping &&
                                 data.value("reason", "") == "guest-shutdown";
        if (m_onPowerOff == OnPowerOff::Reset || restartOnPoweroff) {
            m_onPowerOff = OnPowerOff::Quit;
            resetAndContinue();
            return;
        }
        m_shutdownReason = data.value("reason", "guest-shutdown");
        if (m_phase == MachinePhase::Stopping) {
            // Destroy: SIGTERM makes QEMU exit despite -no-shutdown; a quit would race its
            // exit and turn a clean end into a SIGKILL. The kill timer covers a QEMU that
            // hangs. Like libvirt, the domain is shutting down at the host's request first.
            reportHostShutdown();
            return;
        }
        if (m_phase == MachinePhase::Saved) {
            return; // our own quit after a managed save: the end is "saved", no shutdown
        }
        if (inPhase({MachinePhase::Running, MachinePhase::Paused})) {
            // Who asked, as libvirt's SHUTDOWN event detail: the guest powering itself off
            // (also after an ACPI request), or the host.
            (void)enter(MachinePhase::ShuttingDown);
            setState("shutdown", data.value("guest", false) ? "guest" : "host");
        }
        m_qmp.execute("quit", nlohmann::json::object(),
                      [this, guard = m_lifetime.guard()](Result<nlohmann::json> r) {
                          if (guard.alive() && !r && m_pid > 0) {
                              ::kill(m_pid, SIGKILL);
                          }
                      });
    } else if (event == "RESET") {
        // Every reset of the machine (a reboot from inside the guest, ours after an ACPI
        // reboot, Reset) is libvirt's REBOOT event.
        if (m_listener.rebooted) {
            m_listener.rebooted();
        }
    } else if (event == "DEVICE_DELETED") {
        std::string device =
            qemu_id::deletedDeviceId(data.value("device", ""), data.value("path", ""));
        auto it = m_pendingUnplugs.find(device);
        if (it != m_pendingUnplugs.end()) {
            auto finish = std::move(it->second);
            m_pendingUnplugs.erase(it);
            finish();
        } else if (qemu_id::isVcpu(device)) {
            // A guest that released a vCPU after setVcpus gave up waiting for it.
            recountVcpus(device);
        }
    } else if (event == "STOP") {
        // A managed save stops the guest too: it reports paused, and stays Saving.
        if (inPhase({MachinePhase::Running, MachinePhase::Saving}) && m_state == "running") {
            (void)enter(m_phase == MachinePhase::Saving ? m_phase : MachinePhase::Paused);
            setState("paused", "user");
        }
    } else if (event == "RESUME") {
        if (inPhase({MachinePhase::Paused, MachinePhase::Saving}) && m_state == "paused") {
            (void)enter(m_phase == MachinePhase::Saving ? m_phase : MachinePhase::Running);
            setState("running", "unpaused");
        }
    } else if (event == "VSERPORT_CHANGE") {
        // The guest opened or closed a channel (the guest agent starting, stopping).
        onChannelChange(data.value("id", ""), data.value("open", false));
    } else if (event == "BALLOON_CHANGE") {
        onBalloonChange(data);
    } else if (event == "GUEST_PANICKED") {
        onGuestPanicked();
    } else if (event == "BLOCK_IO_ERROR") {
        if (data.value("action", "") == "stop") {
            if (m_phase == MachinePhase::Running) {
                (void)enter(MachinePhase::Paused);
            }
            setState("paused", "ioerror");
        }
    }
}

void Machine::reportHostShutdown() {
    if (m_state != "shutdown" && m_state != "shutoff" && !m_state.empty()) {
        setState("shutdown", "host");
    }
}

// A reboot in the same QEMU: reset, and let a guest stopped by -no-shutdown or a panic
// run again. The STOP/RESUME this causes are not the user's pause (the Rebooting phase).
void Machine::resetAndContinue() {
    if (!enter(MachinePhase::Rebooting)) {
        return;
    }
    m_qmp.execute("system_reset", nlohmann::json::object(), [](Result<nlohmann::json>) {});
    m_qmp.execute("cont", nlohmann::json::object(),
                  [this, guard = m_lifetime.guard()](Result<nlohmann::json>) {
                      if (guard.alive() && m_phase == MachinePhase::Rebooting) {
                          (void)enter(m_state == "paused" ? MachinePhase::Paused
                                                          : MachinePhase::Running);
                      }
                  });
}

// QEMU paused the guest (-action panic=pause); <on_crash> says what happens next.
void Machine::onGuestPanicked() {
    const std::string& action = m_domain.def.platform.onCrash;
    if (action == "restart") {
        log::info("guest panicked: restarting it (on_crash=restart)");
        resetAndContinue();
        return;
    }
    if (!enter(MachinePhase::Crashed)) {
        return;
    }
    setState("crashed", "panicked");
    if (action == "destroy") {
        log::info("guest panicked: stopping it (on_crash=destroy)");
        m_qmp.execute("quit", nlohmann::json::object(),
                      [this, guard = m_lifetime.guard()](Result<nlohmann::json> r) {
                          if (guard.alive() && !r && m_pid > 0) {
                              ::kill(m_pid, SIGKILL);
                          }
                      });
    }
    // preserve: it stays crashed, paused, for inspection, until destroyed.
}

void Machine::resyncState() {
    auto guard = m_lifetime.guard();
    m_qmp.execute(
        "query-status", nlohmann::json::object(), [this, guard](Result<nlohmann::json> r) {
            if (!guard.alive() || !r || !inPhase({MachinePhase::Running, MachinePhase::Paused})) {
                return;
            }
            bool running = r.value().value("running", false);
            if (running && m_state == "paused") {
                (void)enter(MachinePhase::Running);
                setState("running", "unpaused");
            } else if (!running && m_state == "running") {
                (void)enter(MachinePhase::Paused);
                setState("paused", "user");
            }
        });
}

void Machine::onMonitorClosed(const Error& why) {
    // EOF is what a normally exiting QEMU looks like; its exit is handled by onQemuExit.
    // A monitor that broke the protocol is a QEMU we can no longer manage: stop it rather
    // than leave a VM nobody controls.
    if (why.code() != Code::HypervisorGone && m_pid > 0) {
        log::error("QEMU monitor failed (" + why.message() + "); killing QEMU");
        // Its end is a crash, unless it was already ending another way (destroyed, saved)
        // or never started (failed).
        if (validTransition(m_phase, MachinePhase::Crashed)) {
            (void)enter(MachinePhase::Crashed);
        }
        ::kill(m_pid, SIGKILL);
    }
}

void Machine::onQemuExit(std::optional<siginfo_t> status) {
    std::string how = status ? describeExit(*status) : "exited";
    log::info("QEMU " + how);
    m_exitWatch.reset();
    m_killTimer.reset();
    m_shutdownTimer.reset();
    m_pid = 0;
    m_qmp.close();
    m_agent.close();
    m_backends.stop();
    m_log.qemuEnded();

    if (m_phase == MachinePhase::Stopping) {
        // QEMU's own SHUTDOWN may not have been read before its exit was seen.
        reportHostShutdown();
    }
    std::string reason;
    if (m_phase == MachinePhase::Saved) {
        reason = "saved";
    } else if (m_phase == MachinePhase::Stopping) {
        reason = "destroyed";
    } else if (m_phase == MachinePhase::Crashed) {
        reason = "crashed";
    } else if (m_shutdownReason) {
        reason = "shutdown";
    } else if (status && status->si_code == CLD_EXITED && status->si_status == 0) {
        reason = "shutdown";
    } else {
        // The guest never ran: its end is "failed", not "crashed".
        reason = inPhase({MachinePhase::Launching, MachinePhase::Failed}) ? "failed" : "crashed";
    }
    ::unlink(m_files.qemuPid.c_str());
    ::unlink(m_files.qmpSocket.c_str());
    ::unlink(m_files.state.c_str());
    ::unlink(m_files.liveXml.c_str());
    // The leases go before anyone hears that the domain is off (or did not start).
    auto guard = m_lifetime.guard();
    m_leases->releaseAll([this, guard, how, reason] {
        if (!guard.alive()) {
            return;
        }
        auto finish = [this, guard, how, reason](const std::string& lastLine) {
            if (!guard.alive()) {
                return;
            }
            failStart(Error(Code::OperationFailed, "QEMU " + how + ": " + lastLine));
            (void)enter(MachinePhase::Stopped);
            setState("shutoff", reason);
            auto waiters = std::move(m_destroyWaiters);
            m_destroyWaiters.clear();
            for (auto& w : waiters) {
                w(success());
            }
            if (m_listener.finished) {
                m_listener.finished();
            }
        };
        // A start still waiting for its answer gets QEMU's last words.
        if (m_startDone) {
            m_log.lastLine(finish);
        } else {
            finish("");
        }
    });
}

} // namespace virtswarm::shim
