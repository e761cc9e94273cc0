// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "qemu_command.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/result.hpp"
#include "volume_disks.hpp"

#include <optional>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace virtswarm::shim {

// Who QEMU runs as. In system mode a dedicated unprivileged user; in session mode the
// user who runs the shim (no change).
struct QemuIdentity {
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::string userName;
};

// System mode: VIRTSWARM_QEMU_USER or "virtswarm-qemu", which must exist (created at
// install). Error: OperationFailed naming the missing user.
Result<QemuIdentity> qemuIdentity(bool systemMode);

// Files QEMU reads or writes (disk images, serial log files), opened by the shim with its
// own rights and handed to QEMU as fd sets. Owns the shim's copies of the fds.
class QemuFiles {
public:
    QemuFiles() = default;
    QemuFiles(const QemuFiles&) = delete;
    QemuFiles& operator=(const QemuFiles&) = delete;
    QemuFiles(QemuFiles&&) noexcept = default;
    ~QemuFiles();

    // Fills launch.addFds / launch.pathToFdset and returns the (shim fd, QEMU fd) pairs
    // to pass; QEMU's fds are numbered from firstChildFd.
    // Every path is opened by `opener` (with the definer's rights), and the kernel and
    // initrd are checked readable by it. Disks of type 'volume' come opened by storaged in
    // `volumes` (by path): their fds are taken from there. Serial <log> files that go
    // through virtswarm-logd come as pipes in `pipedOutputs` (by path): taken from there
    // too, and marked in launch.pipedOutputs.
    static Result<QemuFiles> open(const DomainDef& def, QemuLaunch& launch, int firstChildFd,
                                  const HostPathOpener& opener, VolumeFds* volumes = nullptr,
                                  std::map<std::string, int>* pipedOutputs = nullptr);
    const std::vector<std::pair<int, int>>& passFds() const { return m_passFds; }

private:
    std::vector<std::pair<int, int>> m_passFds;
};

// After QEMU is started the shim needs only to open files, signal QEMU and use its bus
// connection: every other capability is dropped, for good (bounding set, no new privs).
// `keepFsSwitch`: keep what opening as the definer needs (HostPathOpener).
void dropShimPrivileges(bool keepFsSwitch);

} // namespace virtswarm::shim
