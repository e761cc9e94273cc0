// SPDX-License-Identifier: LGPL-2.1-or-later
// Network filter procedures (virsh nwfilter-*), answered from nwfilterd's mirrored filters
// (lists, lookups) or forwarded to nwfilterd after the client's polkit check with the same
// actions and details as the D-Bus methods (GetXML: read; DefineXML: write and save;
// Undefine: delete).
#include "procedures.hpp"
#include "virtswarm/nwfilter_def.hpp"

namespace virtswarm::bridge {
namespace {

constexpr auto kGetXml = actions::forMethod(names::kNWFilterInterface, "GetXML");
constexpr auto kUndefine = actions::forMethod(names::kNWFilterInterface, "Undefine");
constexpr auto kDefine = actions::forMethod(names::kNWFilterManagerInterface, "DefineXML");

PolkitDetails detailsOf(const std::string& name, const UuidBytes& uuid) {
    return actions::objectDetails("nwfilter", name, uuid);
}

void replyFilter(const CallPtr& call, const std::string& name, const UuidBytes& uuid) {
    xdr::Writer w;
    writeNetwork(w, RemoteNetwork{name, uuid}); // remote_nonnull_nwfilter: the same layout
    call->reply(w);
}

Error missing(const std::string& what) {
    return Error(Code::NoSuchNWFilter, "no nwfilter with matching " + what);
}

// Runs `then` with the filter the client named (remote_nonnull_nwfilter: by UUID, as
// libvirt's driver looks it up) once the cache is in sync.
void withFilter(Services& services, const CallPtr& call, xdr::Reader& args,
                std::function<void(const CachedNWFilter&)> then) {
    RemoteNetwork named = readNetwork(args);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call,
                    [call, named, then = std::move(then)](const NWFilterCache& cache) {
                        const auto* filter = cache.byUuid(named.uuid);
                        if (filter == nullptr) {
                            call->fail(missing("uuid '" + formatUuid(named.uuid) + "'"));
                            return;
                        }
                        then(*filter);
                    });
}

void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call, [call, name](const NWFilterCache& cache) {
        const auto* filter = cache.byName(name);
        if (filter == nullptr) {
            call->fail(missing("name '" + name + "'"));
            return;
        }
        replyFilter(call, filter->name, filter->uuid);
    });
}

void lookupByUuid(Services& services, const CallPtr& call, xdr::Reader& args) {
    UuidBytes uuid = readUuid(args);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call, [call, uuid](const NWFilterCache& cache) {
        const auto* filter = cache.byUuid(uuid);
        if (filter == nullptr) {
            call->fail(missing("uuid '" + formatUuid(uuid) + "'"));
            return;
        }
        replyFilter(call, filter->name, filter->uuid);
    });
}

std::vector<const CachedNWFilter*> listed(const NWFilterCache& cache) {
    auto all = cache.all();
    if (all.size() > proto::kNWFilterListMax) {
        all.resize(proto::kNWFilterListMax);
    }
    return all;
}

void numOf(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call, [call](const NWFilterCache& cache) {
        xdr::Writer w;
        w.i32(static_cast<int32_t>(listed(cache).size()));
        call->reply(w);
    });
}

void listNames(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t maxNames = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (maxNames < 0 || static_cast<uint32_t>(maxNames) > proto::kNWFilterListMax) {
        call->fail(Error(Code::InvalidArgs, "maxnames out of range"));
        return;
    }
    whenCacheSynced(services.nwfilters, call, [call, maxNames](const NWFilterCache& cache) {
        auto all = listed(cache);
        size_t count = std::min(all.size(), static_cast<size_t>(maxNames));
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(count));
        for (size_t i = 0; i < count; ++i) {
            w.string(all[i]->name);
        }
        call->reply(w);
    });
}

void listAll(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call, [call, needResults](const NWFilterCache& cache) {
        auto all = listed(cache);
        xdr::Writer w;
        // need_results == 0 asks for the count only.
        w.u32(needResults != 0 ? static_cast<uint32_t>(all.size()) : 0);
        for (size_t i = 0; needResults != 0 && i < all.size(); ++i) {
            writeNetwork(w, RemoteNetwork{all[i]->name, all[i]->uuid});
        }
        w.u32(static_cast<uint32_t>(all.size()));
        call->reply(w);
    });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteNetwork named = readNetwork(args);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nwfilters, call, [&services, call, named](const NWFilterCache& cache) {
        const auto* filter = cache.byUuid(named.uuid);
        if (filter == nullptr) {
            call->fail(missing("uuid '" + formatUuid(named.uuid) + "'"));
            return;
        }
        authorize(services, call, actions::actionId(kGetXml), detailsOf(filter->name, filter->uuid),
                  [&services, call, path = filter->path] {
                      services.nwfilters.getXml(
                          path, [call](Result<std::string> xml) { replyStringOrFail(call, xml); });
                  });
    });
}

// DEFINE_XML: parsed here with nwfilterd's own parser (the polkit details need the
// filter's name and UUID), both rights checked for the client, then nwfilterd defines.
void define(Services& services, const CallPtr& call, const std::string& xml) {
    auto parsed = nwfilter::parseFilterXml(xml);
    if (!parsed) {
        call->fail(parsed.error());
        return;
    }
    std::string name = parsed.value().def.name;
    PolkitDetails details = detailsOf(name, parsed.value().def.uuid);
    // The client's text, not the parsed one: a definition without <uuid> of an existing
    // filter keeps the filter's UUID in nwfilterd only if none was made up here.
    auto define = [&services, call, name, xml] {
        services.nwfilters.define(xml, [call, name](Result<UuidBytes> uuid) {
            if (!uuid) {
                call->fail(uuid.error());
                return;
            }
            replyFilter(call, name, uuid.value());
        });
    };
    authorize(services, call, std::string(kDefine.actionId), details,
              [&services, call, details, define = std::move(define)] {
                  authorize(services, call, std::string(kDefine.alsoActionId), details, define);
              });
}

void defineXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    define(services, call, xml);
}

// VIR_NWFILTER_DEFINE_VALIDATE asks for a check against the schema; nwfilterd checks every
// definition in full (elements, attributes and the type of every value) with or without it.
constexpr uint32_t kDefineValidate = 1;

void defineXmlFlags(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if (!flagsKnown(call, flags, kDefineValidate)) {
        return;
    }
    define(services, call, xml);
}

void undefine(Services& services, const CallPtr& call, xdr::Reader& args) {
    withFilter(services, call, args, [&services, call](const CachedNWFilter& filter) {
        authorize(services, call, actions::actionId(kUndefine), detailsOf(filter.name, filter.uuid),
                  [&services, call, path = filter.path] {
                      services.nwfilters.undefine(
                          path, [call](Result<void> r) { replyVoidOrFail(call, r); });
                  });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::NWFilterLookupByName, "virNWFilterLookupByName", Access::Read, lookupByName},
    {proto::NWFilterLookupByUuid, "virNWFilterLookupByUUID", Access::Read, lookupByUuid},
    {proto::NWFilterGetXmlDesc, "virNWFilterGetXMLDesc", Access::Read, getXmlDesc},
    {proto::ConnectNumOfNWFilters, "virConnectNumOfNWFilters", Access::Read, numOf},
    {proto::ConnectListNWFilters, "virConnectListNWFilters", Access::Read, listNames},
    {proto::ConnectListAllNWFilters, "virConnectListAllNWFilters", Access::Read, listAll},
    {proto::NWFilterDefineXml, "virNWFilterDefineXML", Access::Write, defineXml},
    {proto::NWFilterUndefine, "virNWFilterUndefine", Access::Write, undefine},
    {proto::NWFilterDefineXmlFlags, "virNWFilterDefineXMLFlags", Access::Write, defineXmlFlags},
};

} // namespace

std::span<const Procedure> nwfilterProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
