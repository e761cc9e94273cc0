// SPDX-License-Identifier: LGPL-2.1-or-later
// Disks of type 'volume' at start: each volume opened by storaged (volume_disks.hpp)
// before QEMU is spawned; the disk then has the volume's path and format, as libvirt
// translates a volume disk at start.
#include "machine.hpp"
#include "virtswarm/log.hpp"

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
            m_volumePaths[disk.targetDev] = disk.source;
            disk.format = opened.value().format;
            auto& fds = m_volumeFds[disk.source];
            fds.insert(fds.end(), opened.value().fds.begin(), opened.value().fds.end());
            openVolumes(i + 1);
        });
        return;
    }
    leaseDisks();
}

// The volumes stay open in QEMU; only storaged's record of who holds them is taken again
// (OpenVolume records the hold; the descriptors it returns are not needed). A volume that
// cannot be held again is logged: the guest keeps running on it.
void Machine::retakeVolumeHolds(size_t from) {
    const auto& disks = m_domain.def.disks;
    for (size_t i = from; i < disks.size(); ++i) {
        if (!disks[i].isVolume()) {
            continue;
        }
        if (m_volumeBroker == nullptr) {
            log::warning("no connection to virtswarm-storaged: volume holds not taken again");
            return;
        }
        auto guard = m_lifetime.guard();
        m_volumeBroker->open(disks[i], [this, guard, i](Result<OpenedVolume> opened) {
            if (opened) {
                for (int fd : opened.value().fds) {
                    ::close(fd);
                }
            }
            if (!guard.alive()) {
                return;
            }
            const DiskDef& disk = m_domain.def.disks[i];
            if (opened) {
                m_volumePaths[disk.targetDev] = opened.value().path;
            } else {
                log::warning("disk " + disk.targetDev +
                             ": holding its volume again: " + opened.error().message());
            }
            retakeVolumeHolds(i + 1);
        });
        return;
    }
}

} // namespace virtswarm::shim
