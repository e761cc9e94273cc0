// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_cache.hpp"

#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::bridge {
namespace {

// virConnectListAllDomainsFlags (also the filter bits of virConnectGetAllDomainStats)
constexpr uint32_t kListActive = 1, kListInactive = 2, kListPersistent = 4, kListTransient = 8,
                   kListRunning = 16, kListPaused = 32, kListShutoff = 64, kListOther = 128,
                   kListManagedSave = 256, kListNoManagedSave = 512, kListAutostart = 1024,
                   kListNoAutostart = 2048, kListHasSnapshot = 4096, kListNoSnapshot = 8192,
                   kListHasCheckpoint = 16384, kListNoCheckpoint = 32768;

} // namespace

const CachedDomain* DomainCache::byId(int32_t id) const {
    if (id < 0) {
        return nullptr;
    }
    for (const auto& [path, d] : objects()) {
        if (d.active() && d.id == id) {
            return &d;
        }
    }
    return nullptr;
}

RemoteDomain remoteDomain(const CachedDomain& domain) {
    return RemoteDomain{domain.name, domain.uuid, domain.active() ? domain.id : -1};
}

// libvirt's filter semantics: in each pair (or group) of flags, none set means "either".
bool matchesListFlags(const CachedDomain& d, uint32_t flags) {
    if (!matchesFlagPair(flags, kListActive, kListInactive, d.active()) ||
        !matchesFlagPair(flags, kListPersistent, kListTransient, d.persistent) ||
        !matchesFlagPair(flags, kListAutostart, kListNoAutostart, d.autostart) ||
        !matchesFlagPair(flags, kListManagedSave, kListNoManagedSave, d.hasManagedSave) ||
        !matchesFlagPair(flags, kListHasSnapshot, kListNoSnapshot, false) ||
        !matchesFlagPair(flags, kListHasCheckpoint, kListNoCheckpoint, false)) {
        return false;
    }
    uint32_t stateFlags = flags & (kListRunning | kListPaused | kListShutoff | kListOther);
    if (stateFlags == 0) {
        return true;
    }
    int32_t state = libvirtStateNumber(d.state);
    return ((stateFlags & kListRunning) != 0 && state == 1) ||
           ((stateFlags & kListPaused) != 0 && state == 3) ||
           ((stateFlags & kListShutoff) != 0 && state == 5) ||
           ((stateFlags & kListOther) != 0 && state != 1 && state != 3 && state != 5);
}

} // namespace virtswarm::bridge
