// SPDX-License-Identifier: LGPL-2.1-or-later
// Storage pool procedures that change something, forwarded to storaged after the client's
// own polkit check (the action storaged's method checks): define, create, build, start,
// destroy, delete, undefine, refresh (autostart: proc_object_family.hpp).
#include "proc_object_family.hpp"
#include "protocol.hpp"
#include "virtswarm/storage_def.hpp"

namespace virtswarm::bridge {
namespace {

// VIR_STORAGE_POOL_CREATE_WITH_BUILD (pool-start --build, pool-create --build).
constexpr uint32_t kCreateWithBuild = 1;

constexpr auto kBuild = actions::forMethod(names::kStoragePoolInterface, "Build");

// A procedure that names a pool and maps to one Pool method taking only options.
struct Action {
    int32_t procedure;
    const char* method;
    bool hasFlags; // (pool, unsigned int flags) rather than (pool)
    actions::MethodAction polkit;
};

constexpr Action kActions[] = {
    {proto::StoragePoolCreate, "Start", true,
     actions::forMethod(names::kStoragePoolInterface, "Start")},
    {proto::StoragePoolBuild, "Build", true, kBuild},
    {proto::StoragePoolDestroy, "Stop", false,
     actions::forMethod(names::kStoragePoolInterface, "Stop")},
    {proto::StoragePoolDelete, "Delete", true,
     actions::forMethod(names::kStoragePoolInterface, "Delete")},
    {proto::StoragePoolUndefine, "Undefine", false,
     actions::forMethod(names::kStoragePoolInterface, "Undefine")},
    {proto::StoragePoolRefresh, "Refresh", true,
     actions::forMethod(names::kStoragePoolInterface, "Refresh")},
};

// pool-start --build: Build (with its own right) first, then Start.
void buildFirst(Services& services, const CallPtr& call, const CachedPool& pool,
                std::function<void()> then) {
    std::string path = pool.path;
    authorizeObject<StoragePoolKind>(services, call, kBuild, pool, [&services, call, path, then] {
        services.storage.poolAction(path, "Build", [call, then](Result<void> r) {
            if (!r) {
                call->fail(r.error());
                return;
            }
            then();
        });
    });
}

void poolAction(Services& services, const CallPtr& call, xdr::Reader& args) {
    const Action* action = entryFor(kActions, call->procedure());
    RemoteStoragePool named = readStoragePool(args);
    uint32_t flags = action != nullptr && action->hasFlags ? args.u32() : 0;
    if (!argsDone(call, args)) {
        return;
    }
    if (action == nullptr) {
        call->fail(Error(Code::Internal,
                         "no pool action for procedure " + std::to_string(call->procedure())));
        return;
    }
    bool build = action->procedure == proto::StoragePoolCreate && (flags & kCreateWithBuild) != 0;
    withObject<StoragePoolKind>(
        services, call, named, [&services, call, action, build](const CachedPool& p) {
            std::string path = p.path;
            auto run = [&services, call, action, path] {
                services.storage.poolAction(path, action->method,
                                            [call](Result<void> r) { replyVoidOrFail(call, r); });
            };
            CachedObject subject = p;
            authorizeObject<StoragePoolKind>(services, call, action->polkit, subject,
                                             [&services, call, build, p, run] {
                                                 if (build) {
                                                     buildFirst(services, call, p, run);
                                                 } else {
                                                     run();
                                                 }
                                             });
        });
}

// DEFINE_XML and CREATE_XML, parsed here with storaged's own parser
// (family::defineOrCreate).
void defineOrCreate(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    auto parsed = storage::parsePoolXml(xml);
    if (!parsed) {
        call->fail(parsed.error());
        return;
    }
    bool create = call->procedure() == proto::StoragePoolCreateXml;
    Options options;
    if (create && (flags & kCreateWithBuild) != 0) {
        options["build"] = sdbus::Variant(true);
    }
    storage::PoolXml pool = std::move(parsed).value();
    family::defineOrCreate<StoragePoolKind>(
        services, call, create, RemoteStoragePool{pool.def.name, pool.def.uuid},
        std::move(pool.xml), std::move(options), StorageClient::kLongTimeout);
}

constexpr Procedure kProcedures[] = {
    {proto::StoragePoolDefineXml, "virStoragePoolDefineXML", Access::Write, defineOrCreate},
    {proto::StoragePoolCreateXml, "virStoragePoolCreateXML", Access::Write, defineOrCreate},
    {proto::StoragePoolCreate, "virStoragePoolCreate", Access::Write, poolAction},
    {proto::StoragePoolBuild, "virStoragePoolBuild", Access::Write, poolAction},
    {proto::StoragePoolDestroy, "virStoragePoolDestroy", Access::Write, poolAction},
    {proto::StoragePoolDelete, "virStoragePoolDelete", Access::Write, poolAction},
    {proto::StoragePoolUndefine, "virStoragePoolUndefine", Access::Write, poolAction},
    {proto::StoragePoolRefresh, "virStoragePoolRefresh", Access::Write, poolAction},
};

} // namespace

std::span<const Procedure> storagePoolLifecycleProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
