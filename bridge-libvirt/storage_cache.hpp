// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "object_family.hpp"
#include "protocol.hpp"
#include "remote_types.hpp"
#include "virtswarm/error.hpp"
#include "virtswarm/names.hpp"

#include <cstdint>
#include <string>
#include <vector>

// The bridge's copies of storaged's pools (org.virtswarm.Storage1.Pool objects) and volumes
// (org.virtswarm.Storage1.Volume objects, below their pool's path). pool-list, pool-info,
// vol-list, vol-info and the lookups are answered from them without a D-Bus round trip.
namespace virtswarm::bridge {

struct CachedPool : CachedObject {
    bool active = false;
    bool persistent = false;
    bool autostart = false;
    uint32_t state = 0; // virStoragePoolState
    std::string type;   // "dir", "fs", "logical"
    uint64_t capacity = 0;
    uint64_t allocation = 0;
    uint64_t available = 0;
};

struct CachedVolume : CachedObject {
    std::string key; // the volume's path, its key as for libvirt's file and LVM volumes
    sdbus::ObjectPath pool;
    std::string format;
    uint64_t capacity = 0;
    uint64_t allocation = 0;
};

class StoragePoolCache;
class StorageVolumeCache;

// Where pools live on the bus, what the bridge mirrors of them (object_client.hpp) and how
// libvirt's procedures name them (proc_object_family.hpp).
struct StoragePoolKind {
    using Object = CachedPool;
    using Cache = StoragePoolCache;
    static constexpr ObjectBus kBus =
        ObjectBus(names::kStorageBusName, names::kStorageRootPath, names::kStorageManagerInterface,
                  names::kStoragePoolInterface, "PoolEvent", "the storage daemon");
    static constexpr auto kProperties = std::make_tuple(
        mirrored("Active", &CachedPool::active), mirrored("Persistent", &CachedPool::persistent),
        mirrored("Autostart", &CachedPool::autostart), mirrored("State", &CachedPool::state),
        mirrored("Type", &CachedPool::type), mirrored("Capacity", &CachedPool::capacity),
        mirrored("Allocation", &CachedPool::allocation),
        mirrored("Available", &CachedPool::available));

    using Remote = RemoteStoragePool;
    // virStorageXMLFlags: VIR_STORAGE_XML_INACTIVE 1; no secrets
    static constexpr ObjectWire kWire =
        ObjectWire("storage pool", Code::NoSuchPool, "pool", proto::kStoragePoolListMax, 1, 0, {});
    static constexpr ObjectFamily kFamily = ObjectFamily(
        "StoragePool", "StoragePools", proto::StoragePoolLookupByName,
        proto::StoragePoolLookupByUuid, proto::ConnectListAllStoragePools,
        proto::ConnectNumOfStoragePools, proto::ConnectNumOfDefinedStoragePools,
        proto::ConnectListStoragePools, proto::ConnectListDefinedStoragePools,
        proto::StoragePoolIsActive, proto::StoragePoolIsPersistent, proto::StoragePoolGetAutostart,
        proto::StoragePoolSetAutostart, proto::StoragePoolGetXmlDesc);

    static bool isActive(const CachedPool& p) { return p.active; }
    static Remote remote(const CachedPool& p) { return RemoteStoragePool{p.name, p.uuid}; }
    static Remote read(xdr::Reader& r) { return readStoragePool(r); }
    static void write(xdr::Writer& w, const Remote& p) { writeStoragePool(w, p); }
    static bool matches(const CachedPool& p, uint32_t flags);
    // The legacy lists name pools, active or not.
    static void writeListed(xdr::Writer& w, const CachedPool& p, bool) { w.string(p.name); }
};

// Volumes: no UUID, no lifecycle signal of their own (a pool's refresh or a volume call
// adds and removes them), not a family of libvirt's lookup procedures.
struct StorageVolKind {
    using Object = CachedVolume;
    using Cache = StorageVolumeCache;
    static constexpr bool kHasUuid = false;
    static constexpr ObjectBus kBus =
        ObjectBus(names::kStorageBusName, names::kStorageRootPath, names::kStorageManagerInterface,
                  names::kStorageVolumeInterface, nullptr, "the storage daemon");
    static constexpr auto kProperties = std::make_tuple(
        mirrored("Path", &CachedVolume::key), mirrored("Pool", &CachedVolume::pool),
        mirrored("Format", &CachedVolume::format), mirrored("Capacity", &CachedVolume::capacity),
        mirrored("Allocation", &CachedVolume::allocation));
};

// Manager.PoolEvent (virStoragePoolEventLifecycleType).
using StoragePoolEventSignal = KindEvent<StoragePoolKind>;

class StoragePoolCache : public ObjectCache<StoragePoolKind> {};

class StorageVolumeCache : public ObjectCache<StorageVolKind> {
public:
    // The volume whose key (path) is `key`, in any pool.
    const CachedVolume* byKey(const std::string& key) const;
    // The volume `name` of the pool at `poolPath`.
    const CachedVolume* inPool(const std::string& poolPath, const std::string& name) const;
    // The volumes of the pool at `poolPath`, by name.
    std::vector<const CachedVolume*> ofPool(const std::string& poolPath) const;
};

// virConnectListAllStoragePoolsFlags applied to one pool: the state pairs (none of a pair
// set means "either") and the pool types (none set means any).
bool matchesStoragePoolListFlags(const CachedPool& pool, uint32_t flags);

inline bool StoragePoolKind::matches(const CachedPool& p, uint32_t flags) {
    return matchesStoragePoolListFlags(p, flags);
}

} // namespace virtswarm::bridge
