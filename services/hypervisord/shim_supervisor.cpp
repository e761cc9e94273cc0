// SPDX-License-Identifier: LGPL-2.1-or-later
#include "shim_supervisor.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/bus_driver.hpp"
#include "virtswarm/child_process.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/shim_files.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

constexpr auto kDiscoveryTimeout = std::chrono::seconds(5);

bool isQemu(pid_t pid) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    return !ec && exe.filename().string().find("qemu") != std::string::npos;
}

std::optional<std::string> uuidHexFromBusName(const std::string& name) {
    std::string prefix = names::kShimBusNamePrefix;
    if (name.rfind(prefix, 0) != 0 || name.size() != prefix.size() + 32) {
        return std::nullopt;
    }
    return name.substr(prefix.size());
}

} // namespace

ShimSupervisor::ShimSupervisor(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                               std::string runtimeDir, std::string shimPath, Callbacks callbacks)
    : m_connection(connection)
    , m_loop(loop)
    , m_mode(mode)
    , m_runtimeDir(std::move(runtimeDir))
    , m_shimPath(std::move(shimPath))
    , m_callbacks(std::move(callbacks))
    , m_busDriver(sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus")) {
}

ShimSupervisor::~ShimSupervisor() = default;

std::string ShimSupervisor::busNameFor(const std::string& uuidHex) {
    return names::kShimBusNamePrefix + uuidHex;
}

Result<void> ShimSupervisor::subscribe() {
    try {
        m_matches.push_back(m_connection.addMatch(
            std::string("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                        "arg0namespace='") +
                names::kShimNamespace + "'",
            [this](sdbus::Message& m) { onNameOwnerChanged(m); }));
        m_matches.push_back(
            m_connection.addMatch(std::string("type='signal',interface='") + names::kShimInterface +
                                      "',member='StateChanged'",
                                  [this](sdbus::Message& m) { onStateChanged(m); }));
        for (auto [member, kind] : {std::pair{"Rebooted", Notice::Kind::Rebooted},
                                    std::pair{"DeviceRemoved", Notice::Kind::DeviceRemoved}}) {
            m_matches.push_back(m_connection.addMatch(
                std::string("type='signal',interface='") + names::kShimInterface + "',member='" +
                    member + "'",
                [this, kind = kind](sdbus::Message& m) { onNotice(m, kind); }));
        }
    } catch (const sdbus::Error& e) {
        return Error(Code::Internal, "cannot subscribe to shim signals: " + e.getMessage());
    }
    return success();
}

Result<void> ShimSupervisor::launch(const std::string& uuidHex, const DomainXml& domain,
                                    ShimLaunch how) {
    const bool attach = how.attach;
    ShimFiles files = shimFiles(m_runtimeDir, uuidHex);
    if (auto r = makeDirectories(files.dir, 0700); !r) {
        return r;
    }
    (void)removeFileDurable(files.failure);
    // Re-attaching keeps the files of the run in progress: its definition and definer.
    if (!attach) {
        if (auto r = writeFileAtomic(files.definer, formatDefinerRecord(domain.definer, domain.xml),
                                     0600);
            !r) {
            return r;
        }
        if (auto r = writeFileAtomic(files.domainXml, domain.xml, 0600); !r) {
            return r;
        }
    }
    SpawnOptions spawn;
    spawn.argv = {m_shimPath,      std::string("--") + busModeName(m_mode),
                  "--uuid",        uuidHex,
                  "--runtime-dir", files.dir};
    if (attach) {
        spawn.argv.emplace_back("--attach");
    }
    if (how.restoreFd >= 0) {
        constexpr int kRestoreFdInShim = 3;
        spawn.passFds.emplace_back(how.restoreFd, kRestoreFdInShim);
        spawn.argv.emplace_back("--restore-fd");
        spawn.argv.emplace_back(std::to_string(kRestoreFdInShim));
    }
    if (how.paused) {
        spawn.argv.emplace_back("--paused");
    }
    if (!how.loadSnapshot.empty()) {
        spawn.argv.emplace_back("--load-snapshot");
        spawn.argv.emplace_back(how.loadSnapshot);
    }
    auto pid = spawnProcess(spawn);
    if (!pid) {
        if (!attach) {
            removeRuntimeDir(uuidHex);
        }
        return pid.takeError();
    }
    m_launched[uuidHex] = Launched{pid.value(), false};
    watchChild(pid.value(), uuidHex);
    log::info("launched shim " + std::to_string(pid.value()) + " for " + uuidHex +
              (attach ? " (re-attaching to its QEMU)" : ""));
    return success();
}

void ShimSupervisor::watchChild(pid_t pid, const std::string& uuidHex) {
    auto guard = m_lifetime.guard();
    m_children[pid] = m_loop.addChild(pid, [this, guard, pid, uuidHex](const siginfo_t& info) {
        if (!guard.alive()) {
            return;
        }
        log::debug("shim for " + uuidHex + " " + describeExit(info));
        m_children.erase(pid); // reaped by sd-event once this returns
        auto it = m_launched.find(uuidHex);
        // A shim that owned its name is reported gone by NameOwnerChanged; only one that
        // died before reaching the bus is reported here.
        if (it != m_launched.end() && it->second.pid == pid && !it->second.sawName) {
            reportGone(uuidHex);
        }
    });
}

bool ShimSupervisor::present(const std::string& uuidHex) const {
    for (const auto& [owner, uuid] : m_uuidByOwner) {
        if (uuid == uuidHex) {
            return true;
        }
    }
    return m_launched.count(uuidHex) > 0;
}

std::optional<pid_t> ShimSupervisor::recordedQemuPid(const std::string& uuidHex) const {
    auto text = readFile(shimFiles(m_runtimeDir, uuidHex).qemuPid, 64);
    if (!text) {
        return std::nullopt;
    }
    pid_t pid = static_cast<pid_t>(std::atol(text.value().c_str()));
    if (pid <= 1) {
        return std::nullopt;
    }
    return pid;
}

bool ShimSupervisor::qemuAlive(const std::string& uuidHex) const {
    auto pid = recordedQemuPid(uuidHex);
    // The pid must still be QEMU, not a later process that reused the number.
    return pid && kill(*pid, 0) == 0 && isQemu(*pid);
}

ShimSupervisor::QemuWatch::~QemuWatch() {
    exited.reset();
    if (pidfd >= 0) {
        ::close(pidfd);
    }
}

Result<void> ShimSupervisor::killQemu(const std::string& uuidHex, std::function<void()> gone) {
    auto pid = recordedQemuPid(uuidHex);
    if (!pid) {
        return Error(Code::InvalidState, "no QEMU is recorded for this domain");
    }
    // A pidfd pins the process: checked to be QEMU after opening it, the signal cannot reach
    // a later process that reused the number.
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
    if (pidfd < 0 || !isQemu(*pid)) {
        if (pidfd >= 0) {
            ::close(pidfd);
        }
        return Error(Code::InvalidState, "the QEMU of this domain is gone");
    }
    if (::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) < 0) {
        int err = errno;
        ::close(pidfd);
        return Error(Code::OperationFailed,
                     "cannot kill QEMU " + std::to_string(*pid) + ": " + std::strerror(err));
    }
    auto watch = std::make_unique<QemuWatch>();
    watch->pidfd = pidfd;
    auto guard = m_lifetime.guard();
    watch->exited = m_loop.addIo(pidfd, EPOLLIN, [this, guard, uuidHex, gone](uint32_t) {
        if (!guard.alive()) {
            return;
        }
        log::info("QEMU of " + uuidHex + " was killed");
        // Not erased here: this runs inside the watch's own callback.
        m_loop.defer([this, guard, uuidHex] {
            if (guard.alive()) {
                m_qemuWatches.erase(uuidHex);
            }
        });
        if (auto it = m_qemuWatches.find(uuidHex); it != m_qemuWatches.end()) {
            it->second->exited.reset();
        }
        gone();
    });
    m_qemuWatches[uuidHex] = std::move(watch);
    return success();
}

void ShimSupervisor::removeRuntimeDir(const std::string& uuidHex) {
    if (present(uuidHex) || qemuAlive(uuidHex)) {
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(shimFiles(m_runtimeDir, uuidHex).dir, ec);
    if (ec) {
        log::warning("cannot remove the runtime dir of " + uuidHex + ": " + ec.message());
    }
}

void ShimSupervisor::reportGone(const std::string& uuidHex) {
    m_launched.erase(uuidHex);
    auto failure = readFailure(uuidHex);
    // The shim is gone; without a QEMU nothing needs the dir any more (a new start makes a
    // fresh one). With a QEMU, a new shim re-attaches through it.
    removeRuntimeDir(uuidHex);
    if (m_callbacks.shimGone) {
        m_callbacks.shimGone(uuidHex, std::move(failure));
    }
}

std::optional<Error> ShimSupervisor::readFailure(const std::string& uuidHex) const {
    auto text = readFile(shimFiles(m_runtimeDir, uuidHex).failure, 65536);
    if (!text) {
        return std::nullopt;
    }
    const std::string& t = text.value();
    auto nl = t.find('\n');
    std::string name = t.substr(0, nl);
    std::string message = nl == std::string::npos ? "" : t.substr(nl + 1);
    return Error(codeFromDBusName(name), message);
}

void ShimSupervisor::onNameOwnerChanged(sdbus::Message& message) {
    // Only the driver's own say counts, not a signal forged to our unique name.
    auto change = nameOwnerChangeFromBusDriver(message);
    if (!change) {
        return;
    }
    const auto& [name, oldOwner, newOwner] = *change;
    auto uuidHex = uuidHexFromBusName(name);
    if (!uuidHex) {
        return;
    }
    if (!oldOwner.empty()) {
        m_uuidByOwner.erase(oldOwner);
    }
    if (!newOwner.empty()) {
        m_uuidByOwner[newOwner] = *uuidHex;
        if (auto it = m_launched.find(*uuidHex); it != m_launched.end()) {
            it->second.sawName = true;
        }
        return;
    }
    reportGone(*uuidHex);
}

const std::string* ShimSupervisor::senderDomain(sdbus::Message& message) const {
    // Only the current owner of a shim's name, as the bus driver told us (NameOwnerChanged
    // from the driver, GetNameOwner at discovery), speaks for that shim: the bus policy lets
    // only the registry's user own those names, and the bus stamps every sender.
    auto it = m_uuidByOwner.find(message.getSender());
    return it == m_uuidByOwner.end() ? nullptr : &it->second;
}

void ShimSupervisor::onNotice(sdbus::Message& message, Notice::Kind kind) {
    const std::string* uuidHex = senderDomain(message);
    if (uuidHex == nullptr) {
        return;
    }
    Notice notice{kind, {}, {}, {}};
    if (kind == Notice::Kind::DeviceRemoved) {
        try {
            message >> notice.alias;
        } catch (const sdbus::Error&) {
            return;
        }
    }
    if (m_callbacks.notice) {
        m_callbacks.notice(*uuidHex, notice);
    }
}

void ShimSupervisor::onStateChanged(sdbus::Message& message) {
    const std::string* uuidHex = senderDomain(message);
    if (uuidHex == nullptr) {
        return;
    }
    std::string state, reason;
    try {
        message >> state >> reason;
    } catch (const sdbus::Error&) {
        return;
    }
    auto reported = parseStateAndReason(state, reason);
    if (!reported) {
        log::warning("shim of " + *uuidHex + " reported unknown state '" + state + "'");
        return;
    }
    if (m_callbacks.stateChanged) {
        m_callbacks.stateChanged(*uuidHex, *reported);
    }
}

sdbus::IProxy& ShimSupervisor::proxyFor(const std::string& uuidHex) {
    auto& proxy = m_proxies[uuidHex];
    if (!proxy) {
        proxy = sdbus::createProxy(m_connection, busNameFor(uuidHex), names::kShimPath);
    }
    return *proxy;
}

void ShimSupervisor::callMethod(const std::string& uuidHex, const std::string& method,
                                std::chrono::milliseconds timeout,
                                std::function<void(Result<void>)> done) {
    callVoid(uuidHex, method, timeout, std::move(done), Options{});
}

void ShimSupervisor::discover(std::function<void(FoundShim)> found, std::function<void()> done) {
    auto guard = m_lifetime.guard();
    m_busDriver->callMethodAsync("ListNames")
        .onInterface("org.freedesktop.DBus")
        .withTimeout(kDiscoveryTimeout)
        .uponReplyInvoke(
            [this, guard, found, done](const sdbus::Error* error, std::vector<std::string> names) {
                if (!guard.alive()) {
                    return;
                }
                if (error != nullptr) {
                    log::error("cannot list bus names: " + error->getMessage());
                    done();
                    return;
                }
                std::vector<std::string> shims;
                for (const auto& name : names) {
                    if (auto uuidHex = uuidHexFromBusName(name)) {
                        shims.push_back(*uuidHex);
                    }
                }
                if (shims.empty()) {
                    done();
                    return;
                }
                auto pending = std::make_shared<size_t>(shims.size());
                auto finishOne = [pending, done] {
                    if (--*pending == 0) {
                        done();
                    }
                };
                for (const auto& uuidHex : shims) {
                    discoverOne(uuidHex, found, finishOne);
                }
            });
}

// Owner, then properties, then XML: chained so each shim is reported once and complete.
void ShimSupervisor::discoverOne(const std::string& uuidHex, std::function<void(FoundShim)> found,
                                 std::function<void()> finished) {
    auto guard = m_lifetime.guard();
    m_busDriver->callMethodAsync("GetNameOwner")
        .onInterface("org.freedesktop.DBus")
        .withTimeout(kDiscoveryTimeout)
        .withArguments(busNameFor(uuidHex))
        .uponReplyInvoke([=, this](const sdbus::Error* e0, std::string owner) {
            if (!guard.alive()) {
                return;
            }
            if (e0 != nullptr) {
                finished();
                return;
            }
            m_uuidByOwner[owner] = uuidHex;
            proxyFor(uuidHex)
                .callMethodAsync("GetAll")
                .onInterface("org.freedesktop.DBus.Properties")
                .withTimeout(kDiscoveryTimeout)
                .withArguments(std::string(names::kShimInterface))
                .uponReplyInvoke(
                    [=, this](const sdbus::Error* e1, std::map<std::string, sdbus::Variant> props) {
                        if (!guard.alive()) {
                            return;
                        }
                        std::optional<StateAndReason> reported;
                        if (e1 == nullptr && props["State"].containsValueOfType<std::string>()) {
                            reported = parseStateAndReason(props["State"].get<std::string>(),
                                                           props["StateReason"].get<std::string>());
                        }
                        if (!reported) {
                            log::warning("shim of " + uuidHex + " did not answer; ignoring it");
                            finished();
                            return;
                        }
                        FoundShim shim{uuidHex, *reported, {}};
                        proxyFor(uuidHex)
                            .callMethodAsync("GetXML")
                            .onInterface(names::kShimInterface)
                            .withTimeout(kDiscoveryTimeout)
                            .withArguments(Options{})
                            .uponReplyInvoke([=](const sdbus::Error* e2, std::string xml) {
                                if (!guard.alive()) {
                                    return;
                                }
                                if (e2 == nullptr) {
                                    FoundShim complete = shim;
                                    complete.xml = std::move(xml);
                                    found(std::move(complete));
                                }
                                finished();
                            });
                    });
        });
}

} // namespace virtswarm::hypervisor
