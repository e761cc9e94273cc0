// SPDX-License-Identifier: LGPL-2.1-or-later
// Disks of type 'volume' at start: each volume opened by storaged (volume_disks.hpp)
// before QEMU is spawned; the disk then has the volume's path and format, as libvirt
// translates a volume disk at start.
#include "machine.hpp"

#include <unistd.h>

namespace virtswarm::shim {

void Machine::openVolumes(size_t from) {
    auto& disks = m_domain.def.disks;
    for (size_t i = from; i < disks.size(); ++i) {
        if (!disks[i].isVolume()) {
            continue;
        }
        if (m_volumeBroker == nullptr) {
            failStart(Error(Code::Internal, "no connection to virtswarm-storaged"));
            return;
        }
        auto guard = m_lifetime.guard();
        m_volumeBroker->open(disks[i], [this, guard, i](Result<OpenedVolume> opened) {
            if (!guard.alive() || m_phase != MachinePhase::Launching) {
                if (opened) {
                    for (int fd : opened.value().fds) {
                        ::close(fd);
                    }
                }
                return;
            }
            if (!opened) {
                failStart(opened.takeError());
                return;
            }
            DiskDef& disk = m_domain.def.disks[i];
            disk.source = opened.value().path;
            disk.format = opened.value().format;
            auto& fds = m_volumeFds[disk.source];
            fds.insert(fds.end(), opened.value().fds.begin(), opened.value().fds.end());
            openVolumes(i + 1);
        });
        return;
    }
    acquireTaps(0);
}

} // namespace virtswarm::shim
