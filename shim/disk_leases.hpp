// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "system_bus.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"
#include "volume_disks.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::shim {

// Whether `a` and `b` name one image as lockd tells its leases apart: the same file
// (device and inode; a block device by its device number), whatever the spelling of the
// path (a symbolic link, `a//b`, `./`). Looked up with the definer's rights, as the
// image is opened; a name that cannot be looked up is compared as a string.
bool sameImage(const HostPathOpener& opener, const std::string& a, const std::string& b);

// The domain's disk leases, from virtswarm-lockd on the system bus, for system and session
// domains alike (one table for the host: a session domain cannot write an image a system
// domain uses). Each image is opened here with the definer's rights and the descriptor
// handed to lockd, which keys the lease by the file's identity: lockd opens nothing.
//
// No lockd installed (its name is not activatable) means no lock manager, as libvirt's
// default: domains start without leases and a warning is logged. A lockd that is there but
// refuses or does not answer in time fails the start.
class DiskLeases {
public:
    using Done = std::function<void(Result<void>)>;

    DiskLeases(EventLoop& loop, SystemBusLink& systemBus, const UuidBytes& domain);
    ~DiskLeases();

    // Whether the images under a disk's image (its qcow2 backing chain) are leased.
    enum class Chains { Lease, Skip };
    // Leases for every disk with a source (exclusive when writable, shared when readonly
    // or <shareable/>), before QEMU opens them, and shared leases for every layer of a
    // disk's backing chain (QEMU reads them; no domain may write them meanwhile).
    // ResourceBusy when another domain has one. A volume disk's source is the path
    // storaged resolved it to, and lockd gets a copy of the descriptor storaged opened
    // (`volumes`, by path: the definer may have no access to the file itself); a file
    // disk's image and the layers under any disk are opened here with the definer's
    // rights.
    void acquire(const std::vector<DiskDef>& disks, const HostPathOpener& opener,
                 const VolumeFds& volumes, Done done, Chains chains = Chains::Lease);
    // Leases `disks` as acquire() does, then runs `act`, which hands them to QEMU; should
    // that fail, their leases go again, as QEMU holds nothing of them. `done` gets the
    // refusal of the leases or act's result. Once `caller` (the object `act` and `done`
    // belong to) is gone, nothing more runs.
    void withLease(const std::vector<DiskDef>& disks, const HostPathOpener& opener,
                   const VolumeFds& volumes, const Lifetime::Guard& caller,
                   std::function<void(Done acted)> act, Done done);
    // A shim re-attaching to a running QEMU takes over the leases its predecessor took
    // (lockd passes them to it once that shim has left the bus), so its detaches, stop and
    // destroy release them at once as the first shim's would. Only when `disks` has a
    // leased disk; a refusal is logged: lockd still releases them when QEMU ends.
    void takeOver(const std::vector<DiskDef>& disks);
    // QEMU (`pid`) is the process whose end, with the shim's, releases the leases: a shim
    // killed with -9 leaves them to the QEMU that still writes.
    void recordProcess(pid_t pid);
    // After a detach: the lease on `path` (as the definition names it) goes.
    void release(const std::string& path);
    // QEMU is gone: every lease of the domain goes, and `then` runs once lockd answered
    // (or failed to), so whoever learns that the domain is off may start another domain
    // on its images at once, as after libvirt's destroy. Without leases taken or taken
    // over by this shim, `then` runs at once.
    void releaseAll(std::function<void()> then);

private:
    // Acquire's (fd, path, shared) per disk.
    using WireDisk = sdbus::Struct<sdbus::UnixFd, std::string, bool>;

    static Result<int> openForLease(const DiskDef& disk, const HostPathOpener& opener,
                                    const VolumeFds& volumes);
    Result<sdbus::IProxy*> lockd();
    // Acquire of `wire` (none: a take-over); no lockd installed is a success. Errors are
    // prefixed with `what`.
    void sendAcquire(std::vector<WireDisk> wire, const char* what, Done done);
    // Release of `paths` (all when empty); `then` gets lockd's answer.
    void sendRelease(std::vector<std::string> paths, std::function<void(const sdbus::Error*)> then);

    EventLoop& m_loop;
    SystemBusLink& m_systemBus;
    std::string m_domain;
    std::unique_ptr<sdbus::IProxy> m_lockd;
    bool m_noLockManager = false; // lockd is not installed: nothing to ask
    Lifetime m_lifetime;
};

} // namespace virtswarm::shim
