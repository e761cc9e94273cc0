// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage_cache.hpp"

namespace virtswarm::bridge {
namespace {

// virConnectListAllStoragePoolsFlags
constexpr uint32_t kListInactive = 1, kListActive = 2, kListPersistent = 4, kListTransient = 8,
                   kListAutostart = 16, kListNoAutostart = 32;

struct TypeFlag {
    uint32_t flag;
    const char* type;
};
// The pool types storaged serves; a client asking only for others gets an empty list.
constexpr TypeFlag kTypeFlags[] = {{64, "dir"}, {128, "fs"}, {512, "logical"}, {1024, "disk"}};
// VIR_CONNECT_LIST_STORAGE_POOLS_DIR (64) up to ISCSI_DIRECT (524288).
constexpr uint32_t kAnyTypeFlag = ((1U << 20) - 1) & ~63U;

bool matchesType(const CachedPool& pool, uint32_t flags) {
    if ((flags & kAnyTypeFlag) == 0) {
        return true;
    }
    for (const auto& t : kTypeFlags) {
        if ((flags & t.flag) != 0 && pool.type == t.type) {
            return true;
        }
    }
    return false;
}

} // namespace

bool matchesStoragePoolListFlags(const CachedPool& p, uint32_t flags) {
    return matchesFlagPair(flags, kListActive, kListInactive, p.active) &&
           matchesFlagPair(flags, kListPersistent, kListTransient, p.persistent) &&
           matchesFlagPair(flags, kListAutostart, kListNoAutostart, p.autostart) &&
           matchesType(p, flags);
}

const CachedVolume* StorageVolumeCache::byKey(const std::string& key) const {
    for (const auto& [path, volume] : objects()) {
        if (volume.key == key) {
            return &volume;
        }
    }
    return nullptr;
}

const CachedVolume* StorageVolumeCache::inPool(const std::string& poolPath,
                                               const std::string& name) const {
    for (const auto& [path, volume] : objects()) {
        if (volume.name == name && volume.pool == poolPath) {
            return &volume;
        }
    }
    return nullptr;
}

std::vector<const CachedVolume*> StorageVolumeCache::ofPool(const std::string& poolPath) const {
    std::vector<const CachedVolume*> out;
    for (const auto* volume : all()) {
        if (volume->pool == poolPath) {
            out.push_back(volume);
        }
    }
    return out;
}

} // namespace virtswarm::bridge
