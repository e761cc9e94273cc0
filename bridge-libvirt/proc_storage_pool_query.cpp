// SPDX-License-Identifier: LGPL-2.1-or-later
// Storage pool procedures beyond the family every kind has (proc_object_family.hpp), all
// answered from the pool and volume caches: the pool of a volume, pool-info, and the
// volumes of a pool (counted, named, or listed in full), and the pool capabilities.
#include "proc_object_family.hpp"
#include "storage_procedures.hpp"
#include "virtswarm/storage_def.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

void lookupByVolume(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    if (!argsDone(call, args)) {
        return;
    }
    withVolume(services, call, named, [call](const CachedPool& pool, const CachedVolume&) {
        family::replyObject<StoragePoolKind>(call, pool);
    });
}

void getInfo(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool named = readStoragePool(args);
    if (!argsDone(call, args)) {
        return;
    }
    withObject<StoragePoolKind>(services, call, named, [call](const CachedPool& p) {
        xdr::Writer w;
        w.u32(p.state); // unsigned char: one word
        w.u64(p.capacity);
        w.u64(p.allocation);
        w.u64(p.available);
        call->reply(w);
    });
}

// NUM_OF_VOLUMES, LIST_VOLUMES and LIST_ALL_VOLUMES answer with the volumes of an active
// pool; an inactive one has none to show (libvirt: OPERATION_INVALID).
void withPoolVolumes(
    Services& services, const CallPtr& call, const RemoteStoragePool& named,
    std::function<void(const CachedPool&, const std::vector<const CachedVolume*>&)> then) {
    withObject<StoragePoolKind>(
        services, call, named, [&services, call, then](const CachedPool& pool) {
            if (!pool.active) {
                call->fail(
                    Error(Code::InvalidState, "storage pool '" + pool.name + "' is not active"));
                return;
            }
            then(pool, services.storage.volumes.cache().ofPool(pool.path));
        });
}

void numOfVolumes(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool named = readStoragePool(args);
    if (!argsDone(call, args)) {
        return;
    }
    withPoolVolumes(services, call, named,
                    [call](const CachedPool&, const std::vector<const CachedVolume*>& volumes) {
                        xdr::Writer w;
                        w.i32(static_cast<int32_t>(volumes.size()));
                        call->reply(w);
                    });
}

void listVolumes(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool named = readStoragePool(args);
    int32_t max = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (max < 0 || static_cast<uint32_t>(max) > proto::kStorageVolListMax) {
        call->fail(Error(Code::InvalidArgs,
                         "maximum of " + std::to_string(max) + " entries is out of range"));
        return;
    }
    withPoolVolumes(
        services, call, named,
        [call, max](const CachedPool&, const std::vector<const CachedVolume*>& volumes) {
            size_t count = std::min(volumes.size(), static_cast<size_t>(max));
            xdr::Writer w;
            w.u32(static_cast<uint32_t>(count));
            for (size_t i = 0; i < count; ++i) {
                w.string(volumes[i]->name);
            }
            call->reply(w);
        });
}

void listAllVolumes(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool named = readStoragePool(args);
    int32_t needResults = args.i32();
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    withPoolVolumes(services, call, named,
                    [call, needResults](const CachedPool& pool,
                                        const std::vector<const CachedVolume*>& volumes) {
                        size_t count = std::min<size_t>(volumes.size(), proto::kStorageVolListMax);
                        xdr::Writer w;
                        // need_results == 0 asks for the count only.
                        w.u32(needResults != 0 ? static_cast<uint32_t>(count) : 0);
                        for (size_t i = 0; needResults != 0 && i < count; ++i) {
                            writeStorageVol(w, remoteVolume(pool, *volumes[i]));
                        }
                        w.u32(static_cast<uint32_t>(count));
                        call->reply(w);
                    });
}

// What storaged can do (virConnectGetStoragePoolCapabilities), known without asking it.
void poolCapabilities(Services&, const CallPtr& call, xdr::Reader& args) {
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    xdr::Writer w;
    w.string(storage::formatPoolCapabilities());
    call->reply(w);
}

constexpr Procedure kProcedures[] = {
    {proto::ConnectGetStoragePoolCapabilities, "virConnectGetStoragePoolCapabilities", Access::Read,
     poolCapabilities},
    {proto::StoragePoolLookupByVolume, "virStoragePoolLookupByVolume", Access::Read,
     lookupByVolume},
    {proto::StoragePoolGetInfo, "virStoragePoolGetInfo", Access::Read, getInfo},
    {proto::StoragePoolNumOfVolumes, "virStoragePoolNumOfVolumes", Access::Read, numOfVolumes},
    {proto::StoragePoolListVolumes, "virStoragePoolListVolumes", Access::Read, listVolumes},
    {proto::StoragePoolListAllVolumes, "virStoragePoolListAllVolumes", Access::Read,
     listAllVolumes},
};

} // namespace

std::span<const Procedure> storagePoolQueryProcedures() {
    return family::procedures<StoragePoolKind>(kProcedures);
}

} // namespace virtswarm::bridge
