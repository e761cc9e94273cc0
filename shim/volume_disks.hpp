// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// <disk type='volume'>: the image is a volume of virtswarm-storaged, which opens it after
// polkit (storage-vol.data-write, or data-read for a read-only disk, for the domain's
// definer) and hands the shim the open file (the fd broker's client side). The shim then
// passes it to QEMU in an fd set as it does a file disk it opened itself; QEMU's user and
// the VM's definer never need access to the image file.
#include "system_bus.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/service/fd_broker.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace virtswarm::shim {

// A volume opened for one disk: its path, its format (from storaged, never probed), and
// the fds QEMU gets in the disk's fd set (read-write and read-only for a writable disk:
// QEMU picks the one matching the mode it reopens with).
struct OpenedVolume {
    std::string path;
    std::string format;
    std::vector<int> fds;
};

// Opened volumes by path, owned (closed) by whoever holds the map until QEMU got them.
using VolumeFds = std::map<std::string, std::vector<int>>;
void closeVolumeFds(VolumeFds& fds);

class VolumeBroker {
public:
    // `definer`: the uid storaged decides for. A system-mode shim (root) names it; a
    // session-mode shim is the user already and names nobody.
    VolumeBroker(SystemBusLink& systemBus, std::string domainUuid, uid_t definer);
    ~VolumeBroker();

    // Asks storaged for the disk's volume (disk.isVolume()). The storaged record says the
    // shim holds it for this domain until release() or until the shim is gone.
    void open(const DiskDef& disk, std::function<void(Result<OpenedVolume>)> done);
    // Ends the holds on these paths (all of the domain's when empty); fire and forget.
    void release(const std::vector<std::string>& paths);

private:
    class StoragedProxy;
    Result<StoragedProxy*> storaged();
    void openOne(const DiskDef& disk, bool writable,
                 std::function<void(Result<service::BrokeredFd>)> done);

    SystemBusLink& m_systemBus;
    std::string m_domainUuid;
    uid_t m_definer;
    service::FdRequests m_requests;            // outlives the proxy whose replies complete it
    std::unique_ptr<StoragedProxy> m_storaged; // after the link whose connection it uses
};

} // namespace virtswarm::shim
