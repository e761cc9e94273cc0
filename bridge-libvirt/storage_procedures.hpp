// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "procedures.hpp"

#include <functional>
#include <string>

// What the storage procedures share: finding the volume a client names (by its pool's name
// and its own, as libvirt's storage driver does) and the polkit check with a volume's
// details (pool_name, pool_uuid, vol_name: the details storaged's methods check).
namespace virtswarm::bridge {

inline RemoteStorageVol remoteVolume(const CachedPool& pool, const CachedVolume& volume) {
    return RemoteStorageVol{pool.name, volume.name, volume.key};
}

// Runs `then` with the pool and the volume the client named, once the caches are in sync;
// answers NO_STORAGE_POOL or NO_STORAGE_VOL itself otherwise.
void withVolume(Services& services, const CallPtr& call, const RemoteStorageVol& named,
                std::function<void(const CachedPool&, const CachedVolume&)> then);

// Runs `then` with the volume whose key or path is `key`, and its pool.
void withVolumeByKey(Services& services, const CallPtr& call, const std::string& key,
                     std::function<void(const CachedPool&, const CachedVolume&)> then);

// polkit for `method` (the shared table) on volume `volumeName` of `pool` (which may not
// exist yet: a volume being created).
void authorizeVolume(Services& services, const CallPtr& call, const actions::MethodAction& method,
                     const CachedPool& pool, const std::string& volumeName,
                     std::function<void()> then);
void authorizeVolume(Services& services, const CallPtr& call, std::string_view actionId,
                     const CachedPool& pool, const std::string& volumeName,
                     std::function<void()> then);

} // namespace virtswarm::bridge
