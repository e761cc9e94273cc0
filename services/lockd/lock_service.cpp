// SPDX-License-Identifier: LGPL-2.1-or-later
#include "lock_service.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm::lock {
namespace {

constexpr const char* kBusDriver = "org.freedesktop.DBus";
constexpr auto kBusDriverTimeout = std::chrono::seconds(10);

// The pid behind a pidfd, from its fdinfo ("Pid:\t<n>"; -1 once the process is reaped).
Result<pid_t> pidOfPidfd(int pidfd) {
    auto info = readFile("/proc/self/fdinfo/" + std::to_string(pidfd), 4096);
    if (!info) {
        return info.takeError();
    }
    auto at = info.value().find("\nPid:");
    if (at == std::string::npos) {
        return Error(Code::InvalidArgs, "the descriptor is not a pidfd");
    }
    long pid = std::strtol(info.value().c_str() + at + 5, nullptr, 10);
    if (pid <= 0) {
        return Error(Code::InvalidArgs, "the process of the pidfd is gone");
    }
    return static_cast<pid_t>(pid);
}

int openPidfd(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

} // namespace

LockService::LockService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode,
                         const DaemonPaths& paths)
    : m_bus(bus)
    , m_loop(loop)
    , m_authority(bus, mode)
    , m_file(paths.stateDir + "/leases.json")
    , m_busDriver(sdbus::createProxy(bus, kBusDriver, "/org/freedesktop/DBus")) {}

LockService::~LockService() {
    for (auto& [domain, watch] : m_processes) {
        watch.source.reset();
        ::close(watch.pidfd);
    }
}

Result<void> LockService::load() {
    if (::access(m_file.c_str(), F_OK) == 0) {
        auto text = readFile(m_file);
        if (!text) {
            return text.takeError();
        }
        auto table = LeaseTable::parse(text.value());
        if (table) {
            m_table = std::move(table).value();
        } else {
            // Starting empty beats not starting (no VM could start); the file stays for
            // the administrator.
            std::string aside = m_file + ".rejected";
            log::error(m_file + ": " + table.error().message() + "; kept as " + aside);
            (void)::rename(m_file.c_str(), aside.c_str());
        }
    }
    try {
        m_matches.push_back(
            m_bus.addMatch("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'",
                           [this](sdbus::Message& m) { onNameOwnerChanged(m); }));
    } catch (const sdbus::Error& e) {
        return Error(Code::Internal, "cannot watch the bus driver: " + e.getMessage());
    }
    return success();
}

void LockService::reconcile() {
    // Copied first: each step below may replace the table.
    std::vector<std::string> holders;
    std::vector<std::pair<std::string, HeldProcess>> processes;
    for (const auto& [domain, owner] : m_table.owners()) {
        holders.push_back(owner.holder);
        if (owner.process.pid != 0) {
            processes.emplace_back(domain, owner.process);
        }
    }
    for (const auto& [domain, process] : processes) {
        if (!watchProcess(domain, process)) {
            processEnded(domain);
        }
    }
    // The holders' connections may have closed while no lockd watched (a kill -9, a
    // re-exec): ask the bus driver about each.
    auto guard = m_lifetime.guard();
    for (const auto& holder : holders) {
        m_busDriver->callMethodAsync("NameHasOwner")
            .onInterface(kBusDriver)
            .withTimeout(kBusDriverTimeout)
            .withArguments(holder)
            .uponReplyInvoke([this, guard, holder](const sdbus::Error* error, bool present) {
                if (guard.alive() && error == nullptr && !present) {
                    holderLeft(holder);
                }
            });
    }
}

Result<void> LockService::commit(const std::function<Result<void>(LeaseTable&)>& change) {
    LeaseTable next = m_table;
    if (auto r = change(next); !r) {
        return r;
    }
    if (auto r = writeFileAtomic(m_file, next.serialize(), 0600); !r) {
        Error e = r.takeError();
        return e.prefix("cannot record the leases");
    }
    m_table = std::move(next);
    return success();
}

Result<void> LockService::acquire(const std::string& domain, const std::string& holder, uid_t uid,
                                  const std::vector<LeaseRequest>& requests) {
    return commit([&](LeaseTable& table) { return table.acquire(domain, holder, uid, requests); });
}

Result<void> LockService::release(const std::string& domain, const std::string& caller, uid_t uid,
                                  const std::vector<std::string>& paths) {
    auto r = commit([&](LeaseTable& table) { return table.release(domain, caller, uid, paths); });
    if (r && m_table.find(domain) == nullptr) {
        processEnded(domain); // no longer watched: the domain holds nothing
    }
    return r;
}

Result<void> LockService::setProcess(const std::string& domain, const std::string& caller,
                                     int pidfd) {
    auto pid = pidOfPidfd(pidfd);
    if (!pid) {
        return pid.takeError();
    }
    auto start = processStartTime(pid.value());
    if (!start) {
        return Error(Code::InvalidArgs, "the process of the pidfd is gone");
    }
    HeldProcess process{pid.value(), start.value()};
    if (auto r =
            commit([&](LeaseTable& table) { return table.setProcess(domain, caller, process); });
        !r) {
        return r;
    }
    if (!watchProcess(domain, process)) {
        releaseIfAbandoned(domain);
    }
    return success();
}

bool LockService::watchProcess(const std::string& domain, const HeldProcess& process) {
    if (auto old = m_processes.find(domain); old != m_processes.end()) {
        old->second.source.reset();
        ::close(old->second.pidfd);
        m_processes.erase(old);
    }
    int pidfd = openPidfd(process.pid);
    if (pidfd < 0) {
        return false;
    }
    // The pid may have been reused since it was recorded (lockd was down meanwhile).
    auto start = processStartTime(process.pid);
    if (!start || start.value() != process.startTime) {
        ::close(pidfd);
        return false;
    }
    auto guard = m_lifetime.guard();
    ProcessWatch& watch = m_processes[domain];
    watch.pidfd = pidfd;
    // Readable once the process has exited (reaped or not).
    watch.source = m_loop.addIo(pidfd, EPOLLIN, [this, guard, domain](uint32_t) {
        if (guard.alive()) {
            processEnded(domain);
        }
    });
    return true;
}

void LockService::processEnded(const std::string& domain) {
    if (auto watch = m_processes.find(domain); watch != m_processes.end()) {
        watch->second.source.reset();
        ::close(watch->second.pidfd);
        m_processes.erase(watch);
    }
    Owner* owner = m_table.find(domain);
    if (owner == nullptr || owner->process.pid == 0) {
        return;
    }
    if (owner->holderGone) {
        releaseIfAbandoned(domain);
        return;
    }
    // The holder is still there: its leave alone releases the leases now.
    (void)commit([&](LeaseTable& table) {
        table.find(domain)->process = HeldProcess{};
        return success();
    });
}

void LockService::onNameOwnerChanged(sdbus::Message& message) {
    // The match names the bus driver, but sd-bus also delivers signals sent straight to
    // us, by anyone: only the driver's own say counts.
    if (message.getSender() != kBusDriver) {
        return;
    }
    std::string name, oldOwner, newOwner;
    try {
        message >> name >> oldOwner >> newOwner;
    } catch (const sdbus::Error&) {
        return;
    }
    if (!name.empty() && name[0] == ':' && newOwner.empty()) {
        holderLeft(name);
    }
}

void LockService::holderLeft(const std::string& holder) {
    std::vector<std::string> domains;
    for (const auto& [domain, owner] : m_table.owners()) {
        if (owner.holder == holder) {
            domains.push_back(domain);
        }
    }
    for (const auto& domain : domains) {
        if (Owner* owner = m_table.find(domain)) {
            owner->holderGone = true;
            releaseIfAbandoned(domain);
        }
    }
}

void LockService::releaseIfAbandoned(const std::string& domain) {
    Owner* owner = m_table.find(domain);
    if (owner == nullptr || !owner->holderGone || m_processes.count(domain) > 0) {
        return;
    }
    auto r = commit([&](LeaseTable& table) {
        table.drop(domain);
        return success();
    });
    if (r) {
        log::info("released the disk leases of domain " + domain +
                  ": its holder and its process are gone");
    } else {
        log::error("releasing the leases of domain " + domain + ": " + r.error().message());
    }
}

} // namespace virtswarm::lock
