// SPDX-License-Identifier: LGPL-2.1-or-later
// Storage volume procedures: lookups, info and path from the volume cache; XML, create,
// clone, delete, wipe and resize forwarded to storaged after the client's polkit check with
// the volume's details (the action storaged's method checks). Clone and wipe are storaged
// Jobs: the call is answered when the job completes, the bridge's loop never waits.
#include "protocol.hpp"
#include "storage_procedures.hpp"
#include "virtswarm/storage_def.hpp"

namespace virtswarm::bridge {
namespace {

// virStorageVolType
constexpr int32_t kVolFile = 0, kVolBlock = 1;
// virStorageVolResizeFlags
constexpr uint32_t kResizeDelta = 2, kResizeShrink = 4;
// virStorageVolWipeAlgorithm: only zeroes are written.
constexpr uint32_t kWipeZero = 0;

constexpr auto kCreateVolume = actions::forMethod(names::kStoragePoolInterface, "CreateVolume");
constexpr auto kCloneVolume = actions::forMethod(names::kStoragePoolInterface, "CloneVolume");
// What a clone needs on its source: the right to read its data (Volume.Download's).
constexpr auto kReadData = actions::forMethod(names::kStorageVolumeInterface, "Download");
constexpr auto kGetXml = actions::forMethod(names::kStorageVolumeInterface, "GetXML");
constexpr auto kDelete = actions::forMethod(names::kStorageVolumeInterface, "Delete");
constexpr auto kWipe = actions::forMethod(names::kStorageVolumeInterface, "Wipe");
constexpr auto kResize = actions::forMethod(names::kStorageVolumeInterface, "Resize");

void replyVolume(const CallPtr& call, const CachedPool& pool, const CachedVolume& volume) {
    xdr::Writer w;
    writeStorageVol(w, remoteVolume(pool, volume));
    call->reply(w);
}

// Answers with volume `name` of `poolPath` as the cache has it now (storaged announces a
// new volume before it replies or completes the job that made it).
void replyNewVolume(Services& services, const CallPtr& call, const std::string& poolPath,
                    const std::string& name) {
    const auto* pool = services.storage.pools.cache().byPath(poolPath);
    const auto* volume = services.storage.volumes.cache().inPool(poolPath, name);
    if (pool == nullptr || volume == nullptr) {
        call->fail(Error(Code::OperationFailed, "volume '" + name + "' did not appear"));
        return;
    }
    replyVolume(call, *pool, *volume);
}

void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool pool = readStoragePool(args);
    std::string name = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    withObject<StoragePoolKind>(services, call, pool, [&services, call, name](const CachedPool& p) {
        RemoteStorageVol named{p.name, name, {}};
        withVolume(services, call, named, [call](const CachedPool& in, const CachedVolume& v) {
            replyVolume(call, in, v);
        });
    });
}

// LOOKUP_BY_KEY and LOOKUP_BY_PATH: a volume's key is its path.
void lookupByKey(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string key = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    withVolumeByKey(services, call, key, [call](const CachedPool& p, const CachedVolume& v) {
        replyVolume(call, p, v);
    });
}

// GET_INFO (vol) and GET_INFO_FLAGS (vol, flags) -> char type, capacity, allocation.
void getInfo(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    if (call->procedure() == proto::StorageVolGetInfoFlags) {
        (void)args.u32(); // VIR_STORAGE_VOL_GET_PHYSICAL: the allocation is what is used
    }
    if (!argsDone(call, args)) {
        return;
    }
    withVolume(services, call, named, [call](const CachedPool& p, const CachedVolume& v) {
        xdr::Writer w;
        w.i32(p.type == "logical" ? kVolBlock : kVolFile); // char: one word
        w.u64(v.capacity);
        w.u64(v.allocation);
        call->reply(w);
    });
}

void getPath(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    if (!argsDone(call, args)) {
        return;
    }
    withVolume(services, call, named, [call](const CachedPool&, const CachedVolume& v) {
        xdr::Writer w;
        w.string(v.key);
        call->reply(w);
    });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    withVolume(services, call, named,
               [&services, call](const CachedPool& p, const CachedVolume& v) {
                   std::string path = v.path;
                   authorizeVolume(services, call, kGetXml, p, v.name, [&services, call, path] {
                       services.storage.volumes.getXml(path, {}, [call](Result<std::string> xml) {
                           replyStringOrFail(call, xml);
                       });
                   });
               });
}

// The volume XML a client sends, parsed for the name polkit needs.
std::optional<storage::VolumeDef> parseVolume(const CallPtr& call, const std::string& xml) {
    auto def = storage::parseVolumeXml(xml);
    if (!def) {
        call->fail(def.error());
        return std::nullopt;
    }
    return std::move(def).value();
}

void createXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool pool = readStoragePool(args);
    std::string xml = args.string(proto::kStringMax);
    (void)args.u32(); // flags: preallocation and reflinks are storaged's to decide
    if (!argsDone(call, args)) {
        return;
    }
    auto def = parseVolume(call, xml);
    if (!def) {
        return;
    }
    std::string name = def->name;
    withObject<StoragePoolKind>(
        services, call, pool, [&services, call, xml, name](const CachedPool& p) {
            std::string poolPath = p.path;
            authorizeVolume(
                services, call, kCreateVolume, p, name, [&services, call, poolPath, xml, name] {
                    services.storage.createVolume(
                        poolPath, xml, [&services, call, poolPath, name](Result<std::string> r) {
                            if (!r) {
                                call->fail(r.error());
                                return;
                            }
                            replyNewVolume(services, call, poolPath, name);
                        });
                });
        });
}

// CREATE_XML_FROM (pool, xml, clonevol, flags): create on the target pool and read the
// source's data, both checked before storaged's job starts.
void createXmlFrom(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStoragePool pool = readStoragePool(args);
    std::string xml = args.string(proto::kStringMax);
    RemoteStorageVol source = readStorageVol(args);
    (void)args.u32(); // flags: as createXml
    if (!argsDone(call, args)) {
        return;
    }
    auto def = parseVolume(call, xml);
    if (!def) {
        return;
    }
    std::string name = def->name;
    withVolume(
        services, call, source,
        [&services, call, pool, xml, name](const CachedPool& sourcePool, const CachedVolume& from) {
            CachedPool readFrom = sourcePool;
            std::string fromName = from.name, fromPath = from.path;
            withObject<StoragePoolKind>(
                services, call, pool,
                [&services, call, xml, name, readFrom, fromName, fromPath](const CachedPool& p) {
                    std::string poolPath = p.path;
                    auto clone = [&services, call, poolPath, fromPath, xml, name] {
                        services.storage.cloneVolume(
                            poolPath, fromPath, xml,
                            [&services, call, poolPath, name](Result<void> r) {
                                if (!r) {
                                    call->fail(r.error());
                                    return;
                                }
                                replyNewVolume(services, call, poolPath, name);
                            });
                    };
                    authorizeVolume(services, call, kCloneVolume, p, name,
                                    [&services, call, readFrom, fromName, clone] {
                                        authorizeVolume(services, call, kReadData, readFrom,
                                                        fromName, clone);
                                    });
                });
        });
}

// A volume method that takes only the volume and answers nothing (Delete, Wipe).
void volumeAction(Services& services, const CallPtr& call, const RemoteStorageVol& named,
                  const actions::MethodAction& polkit,
                  void (StorageClient::*method)(const std::string&, StorageClient::Done)) {
    withVolume(
        services, call, named,
        [&services, call, &polkit, method](const CachedPool& p, const CachedVolume& v) {
            std::string path = v.path;
            authorizeVolume(services, call, polkit, p, v.name, [&services, call, path, method] {
                (services.storage.*method)(path,
                                           [call](Result<void> r) { replyVoidOrFail(call, r); });
            });
        });
}

void deleteVolume(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    (void)args.u32(); // flags: zeroing first is vol-wipe's job
    if (!argsDone(call, args)) {
        return;
    }
    volumeAction(services, call, named, kDelete, &StorageClient::deleteVolume);
}

// WIPE (vol, flags) and WIPE_PATTERN (vol, algorithm, flags): zeroes only.
void wipe(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    uint32_t algorithm = call->procedure() == proto::StorageVolWipePattern ? args.u32() : kWipeZero;
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    if (algorithm != kWipeZero) {
        call->fail(Error(Code::NotSupported,
                         "wiping algorithm " + std::to_string(algorithm) + " is not supported"));
        return;
    }
    volumeAction(services, call, named, kWipe, &StorageClient::wipeVolume);
}

// RESIZE (vol, capacity, flags): DELTA makes `capacity` a change of the current one
// (downwards with SHRINK, as `virsh vol-resize --shrink v -1M` sends it).
void resize(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteStorageVol named = readStorageVol(args);
    uint64_t capacity = args.u64();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    bool shrink = (flags & kResizeShrink) != 0, delta = (flags & kResizeDelta) != 0;
    withVolume(
        services, call, named,
        [&services, call, capacity, shrink, delta](const CachedPool& p, const CachedVolume& v) {
            uint64_t target = capacity;
            if (delta && shrink) {
                if (capacity > v.capacity) {
                    call->fail(Error(Code::InvalidArgs,
                                     "cannot shrink volume '" + v.name + "' below zero"));
                    return;
                }
                target = v.capacity - capacity;
            } else if (delta) {
                target = v.capacity + capacity;
            }
            std::string path = v.path;
            authorizeVolume(
                services, call, kResize, p, v.name, [&services, call, path, target, shrink] {
                    services.storage.resizeVolume(
                        path, target, shrink, [call](Result<void> r) { replyVoidOrFail(call, r); });
                });
        });
}

constexpr Procedure kProcedures[] = {
    {proto::StorageVolLookupByName, "virStorageVolLookupByName", Access::Read, lookupByName},
    {proto::StorageVolLookupByKey, "virStorageVolLookupByKey", Access::Read, lookupByKey},
    {proto::StorageVolLookupByPath, "virStorageVolLookupByPath", Access::Read, lookupByKey},
    {proto::StorageVolGetInfo, "virStorageVolGetInfo", Access::Read, getInfo},
    {proto::StorageVolGetInfoFlags, "virStorageVolGetInfoFlags", Access::Read, getInfo},
    {proto::StorageVolGetPath, "virStorageVolGetPath", Access::Read, getPath},
    {proto::StorageVolGetXmlDesc, "virStorageVolGetXMLDesc", Access::Read, getXmlDesc},
    {proto::StorageVolCreateXml, "virStorageVolCreateXML", Access::Write, createXml},
    {proto::StorageVolCreateXmlFrom, "virStorageVolCreateXMLFrom", Access::Write, createXmlFrom},
    {proto::StorageVolDelete, "virStorageVolDelete", Access::Write, deleteVolume},
    {proto::StorageVolWipe, "virStorageVolWipe", Access::Write, wipe},
    {proto::StorageVolWipePattern, "virStorageVolWipePattern", Access::Write, wipe},
    {proto::StorageVolResize, "virStorageVolResize", Access::Write, resize},
};

} // namespace

std::span<const Procedure> storageVolProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
