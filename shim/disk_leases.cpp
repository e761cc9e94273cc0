// SPDX-License-Identifier: LGPL-2.1-or-later
#include "disk_leases.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/image_chain.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

// Room for lockd's activation by the call and its polkit check, as for AcquireTap.
constexpr auto kLockdTimeout = std::chrono::seconds(20);
constexpr const char* kNotInstalled = "org.freedesktop.DBus.Error.ServiceUnknown";
// lockd's bound, which is the bus's too: dbus-daemon disconnects a client that sends more
// descriptors in one message, so more disks are refused here, before sending.
constexpr size_t kMaxDisks = 64;

Options noOptions() {
    return {};
}

} // namespace

bool sameImage(const HostPathOpener& opener, const std::string& a, const std::string& b) {
    if (a == b) {
        return true;
    }
    if (a.empty() || b.empty()) {
        return false;
    }
    struct stat first {};
    struct stat second {};
    bool found = false;
    // stat needs no right on the file itself, only to look its name up.
    auto looked = opener.withRights("looking up " + a + " and " + b, [&]() -> Result<void> {
        found = ::stat(a.c_str(), &first) == 0 && ::stat(b.c_str(), &second) == 0;
        return success();
    });
    if (!looked || !found) {
        return false;
    }
    if (S_ISBLK(first.st_mode) && S_ISBLK(second.st_mode)) {
        return first.st_rdev == second.st_rdev;
    }
    return first.st_dev == second.st_dev && first.st_ino == second.st_ino;
}

DiskLeases::DiskLeases(EventLoop& loop, SystemBusLink& systemBus, const UuidBytes& domain)
    : m_loop(loop)
    , m_systemBus(systemBus)
    , m_domain(formatUuid(domain)) {}

DiskLeases::~DiskLeases() = default;

Result<sdbus::IProxy*> DiskLeases::lockd() {
    if (m_lockd) {
        return m_lockd.get();
    }
    auto bus = m_systemBus.connection("reaching virtswarm-lockd");
    if (!bus) {
        return bus.takeError();
    }
    m_lockd = sdbus::createProxy(*bus.value(), names::kLockBusName, names::kLockRootPath);
    return m_lockd.get();
}

// The image of `disk` for lockd: a copy of storaged's descriptor for a volume (the first
// is the one matching the disk's mode, volume_disks.hpp), else the file opened with the
// definer's rights.
Result<int> DiskLeases::openForLease(const DiskDef& disk, const HostPathOpener& opener,
                                     const VolumeFds& volumes) {
    bool shared = disk.readonly || disk.shareable;
    if (disk.isVolume()) {
        auto opened = volumes.find(disk.source);
        if (opened == volumes.end() || opened->second.empty()) {
            return Error(Code::Internal, "volume disk " + disk.targetDev + " was not opened");
        }
        int fd = ::fcntl(opened->second.front(), F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            return Error(Code::OperationFailed,
                         "disk " + disk.targetDev + ": " + std::strerror(errno));
        }
        return fd;
    }
    return opener.openImage(disk.source, shared ? O_RDONLY : O_RDWR, "disk " + disk.targetDev);
}

void DiskLeases::acquire(const std::vector<DiskDef>& disks, const HostPathOpener& opener,
                         const VolumeFds& volumes, Done done, Chains chains) {
    std::vector<WireDisk> wire;
    for (const auto& disk : disks) {
        if (disk.source.empty()) {
            continue;
        }
        bool shared = disk.readonly || disk.shareable;
        auto fd = openForLease(disk, opener, volumes);
        if (!fd) {
            m_loop.defer([done, error = fd.takeError()] { done(error); });
            return;
        }
        sdbus::UnixFd top(fd.value(), sdbus::adopt_fd);
        // The images under a disk's image are read by QEMU all the while: shared leases,
        // so no domain writes a base an overlay of this one stands on. Under a volume too:
        // storaged hands out its top image only, and the layers are opened here as the
        // definer, as QEMU gets them (qemu_files.cpp).
        if (chains == Chains::Lease) {
            auto chain = openBackingChain(opener, disk.source, disk.format, top.get(),
                                          "disk " + disk.targetDev);
            if (!chain) {
                m_loop.defer([done, error = chain.takeError()] { done(error); });
                return;
            }
            for (BackingLayer& layer : chain.value()) {
                wire.emplace_back(sdbus::UnixFd(layer.fd, sdbus::adopt_fd), layer.path, true);
            }
        }
        wire.emplace_back(std::move(top), disk.source, shared);
    }
    if (wire.size() > kMaxDisks) {
        m_loop.defer([done] {
            done(Error(Code::LimitsExceeded,
                       "more than " + std::to_string(kMaxDisks) + " disks cannot be leased"));
        });
        return;
    }
    if (wire.empty() || m_noLockManager) {
        m_loop.defer([done] { done(success()); });
        return;
    }
    sendAcquire(std::move(wire), "leasing the disks", std::move(done));
}

void DiskLeases::withLease(const std::vector<DiskDef>& disks, const HostPathOpener& opener,
                           const VolumeFds& volumes, const Lifetime::Guard& caller,
                           std::function<void(Done acted)> act, Done done) {
    std::vector<std::string> leased;
    for (const auto& disk : disks) {
        if (!disk.source.empty()) {
            leased.push_back(disk.source);
        }
    }
    // What is handed to QEMU while it runs stands on images this domain leases already
    // (an overlay's base; a hotplugged disk or a medium has no chain): asking for them
    // again, shared, would weaken the exclusive lease of a base QEMU may still write.
    acquire(
        disks, opener, volumes,
        [this, caller, leased = std::move(leased), act = std::move(act),
         done = std::move(done)](Result<void> granted) {
            if (!caller.alive()) {
                return;
            }
            if (!granted) {
                done(std::move(granted));
                return;
            }
            act([this, caller, leased, done](Result<void> acted) {
                if (!caller.alive()) {
                    return;
                }
                if (!acted) {
                    for (const auto& path : leased) {
                        release(path);
                    }
                }
                done(std::move(acted));
            });
        },
        Chains::Skip);
}

void DiskLeases::sendAcquire(std::vector<WireDisk> wire, const char* what, Done done) {
    auto proxy = lockd();
    if (!proxy) {
        m_loop.defer([done, error = proxy.takeError()] { done(error); });
        return;
    }
    auto guard = m_lifetime.guard();
    try {
        proxy.value()
            ->callMethodAsync("Acquire")
            .onInterface(names::kLockManagerInterface)
            .withTimeout(kLockdTimeout)
            .withArguments(m_domain, wire, noOptions())
            .uponReplyInvoke([this, guard, what, done](const sdbus::Error* error) {
                if (!guard.alive()) {
                    return;
                }
                if (error == nullptr) {
                    done(success());
                } else if (error->getName() == kNotInstalled) {
                    log::warning("virtswarm-lockd is not installed: disks are not leased");
                    m_noLockManager = true;
                    done(success());
                } else {
                    done(fromDBusError(*error).prefix(what));
                }
            });
    } catch (const sdbus::Error& e) {
        m_loop.defer([done, error = fromDBusError(e)] { done(error); });
    }
}

void DiskLeases::takeOver(const std::vector<DiskDef>& disks) {
    bool leased = std::any_of(disks.begin(), disks.end(), [](const DiskDef& disk) {
        return !disk.source.empty() || disk.isVolume();
    });
    if (!leased || m_noLockManager) {
        return;
    }
    sendAcquire({}, "taking the disk leases over", [](Result<void> taken) {
        if (!taken) {
            log::warning(taken.error().message() + " (lockd releases them with QEMU)");
        }
    });
}

void DiskLeases::recordProcess(pid_t pid) {
    if (!m_lockd || m_noLockManager) {
        return; // no leases were taken
    }
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        return; // QEMU is gone already: the shim's own end releases the leases
    }
    try {
        m_lockd->callMethodAsync("SetProcess")
            .onInterface(names::kLockManagerInterface)
            .withTimeout(kLockdTimeout)
            .withArguments(m_domain, sdbus::UnixFd(pidfd, sdbus::adopt_fd), noOptions())
            .uponReplyInvoke([](const sdbus::Error* error) {
                if (error != nullptr) {
                    log::warning("lockd did not record QEMU: " + error->getMessage());
                }
            });
    } catch (const sdbus::Error& e) {
        log::warning("lockd did not record QEMU: " + e.getMessage());
    }
}

void DiskLeases::release(const std::string& path) {
    if (m_noLockManager) {
        return;
    }
    sendRelease({path}, [path](const sdbus::Error* error) {
        if (error != nullptr) {
            log::warning("releasing the lease on " + path + ": " + error->getMessage());
        }
    });
}

void DiskLeases::releaseAll(std::function<void()> then) {
    if (!m_lockd || m_noLockManager) {
        then();
        return;
    }
    auto guard = m_lifetime.guard();
    sendRelease({}, [guard, then](const sdbus::Error* error) {
        if (error != nullptr) {
            // lockd still drops them when this shim and QEMU are both gone.
            log::warning("releasing the disk leases: " + error->getMessage());
        }
        if (guard.alive()) {
            then();
        }
    });
}

void DiskLeases::sendRelease(std::vector<std::string> paths,
                             std::function<void(const sdbus::Error*)> then) {
    // A shim that re-attached to a running QEMU has not talked to lockd yet.
    auto proxy = lockd();
    if (!proxy) {
        sdbus::Error error("org.freedesktop.DBus.Error.Disconnected", proxy.error().message());
        then(&error);
        return;
    }
    try {
        proxy.value()
            ->callMethodAsync("Release")
            .onInterface(names::kLockManagerInterface)
            .withTimeout(kLockdTimeout)
            .withArguments(m_domain, paths, noOptions())
            .uponReplyInvoke([then](const sdbus::Error* error) { then(error); });
    } catch (const sdbus::Error& e) {
        then(&e);
    }
}

} // namespace virtswarm::shim
