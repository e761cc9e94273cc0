// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage_procedures.hpp"

namespace virtswarm::bridge {

void withVolume(Services& services, const CallPtr& call, const RemoteStorageVol& named,
                std::function<void(const CachedPool&, const CachedVolume&)> then) {
    whenCacheSynced(
        services.storage.pools, call,
        [&services, call, named, then](const StoragePoolCache& pools) {
            const CachedPool* pool = pools.byName(named.pool);
            if (pool == nullptr) {
                call->fail(Error(Code::NoSuchPool,
                                 "no storage pool with matching name '" + named.pool + "'"));
                return;
            }
            const CachedVolume* volume =
                services.storage.volumes.cache().inPool(pool->path, named.name);
            if (volume == nullptr) {
                call->fail(Error(Code::NoSuchVolume,
                                 "no storage vol with matching name '" + named.name + "'"));
                return;
            }
            then(*pool, *volume);
        });
}

void withVolumeByKey(Services& services, const CallPtr& call, const std::string& key,
                     std::function<void(const CachedPool&, const CachedVolume&)> then) {
    whenCacheSynced(
        services.storage.pools, call, [&services, call, key, then](const StoragePoolCache& pools) {
            const CachedVolume* volume = services.storage.volumes.cache().byKey(key);
            const CachedPool* pool = volume != nullptr ? pools.byPath(volume->pool) : nullptr;
            if (pool == nullptr) {
                call->fail(Error(Code::NoSuchVolume, "no storage vol with matching key " + key));
                return;
            }
            then(*pool, *volume);
        });
}

void authorizeVolume(Services& services, const CallPtr& call, std::string_view actionId,
                     const CachedPool& pool, const std::string& volumeName,
                     std::function<void()> then) {
    PolkitDetails details =
        actions::objectDetails(StoragePoolKind::kWire.detailPrefix, pool.name, pool.uuid);
    details["vol_name"] = volumeName;
    authorize(services, call, std::string(actionId), details, std::move(then));
}

void authorizeVolume(Services& services, const CallPtr& call, const actions::MethodAction& method,
                     const CachedPool& pool, const std::string& volumeName,
                     std::function<void()> then) {
    authorizeVolume(services, call, method.actionId, pool, volumeName, std::move(then));
}

} // namespace virtswarm::bridge
