// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

// One family of libvirt procedures for every object kind the swarm serves (domains,
// networks, and any kind described the same way): lookup by name and UUID, the lists
// (all with flags, the legacy numbers and names of active and inactive objects),
// isActive, isPersistent, autostart get/set and the XML. Lookups and lists are answered
// from the kind's cache; the XML and autostart changes go to the kind's service after the
// client's polkit check. `Kind` is described in its cache header (domain_cache.hpp):
// kFamily (an ObjectFamily), kWire (an ObjectWire), `Remote`, remote(), read(), write(),
// isActive(), matches(), writeListed().
namespace virtswarm::bridge::family {

template <typename Kind> void replyObject(const CallPtr& call, const typename Kind::Object& o) {
    xdr::Writer w;
    Kind::write(w, Kind::remote(o));
    call->reply(w);
}

// Runs `then` with the kind's cache, in sync.
template <typename Kind, typename Then>
void withCache(Services& services, const CallPtr& call, Then then) {
    whenCacheSynced(services.objects<Kind>(), call, std::move(then));
}

// LOOKUP_BY_NAME and LOOKUP_BY_UUID.
template <typename Kind> void lookup(Services& services, const CallPtr& call, xdr::Reader& args) {
    bool byName = call->procedure() == Kind::kFamily.lookupByName;
    std::string name;
    UuidBytes uuid{};
    if (byName) {
        name = args.string(proto::kStringMax);
    } else {
        uuid = readUuid(args);
    }
    if (!argsDone(call, args)) {
        return;
    }
    withCache<Kind>(services, call, [call, byName, name, uuid](const typename Kind::Cache& cache) {
        if (const auto* o = byName ? cache.byName(name) : cache.byUuid(uuid)) {
            replyObject<Kind>(call, *o);
            return;
        }
        std::string key = byName ? "name '" + name + "'" : "uuid '" + formatUuid(uuid) + "'";
        call->fail(Error(Kind::kWire.missing,
                         std::string("no ") + Kind::kWire.noun + " with matching " + key));
    });
}

template <typename Kind> void listAll(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    withCache<Kind>(services, call, [call, needResults, flags](const typename Kind::Cache& cache) {
        std::vector<const typename Kind::Object*> found;
        for (const auto* o : cache.all()) {
            if (Kind::matches(*o, flags) && found.size() < Kind::kWire.listMax) {
                found.push_back(o);
            }
        }
        xdr::Writer w;
        // need_results == 0 asks for the count only.
        w.u32(needResults != 0 ? static_cast<uint32_t>(found.size()) : 0);
        if (needResults != 0) {
            for (const auto* o : found) {
                Kind::write(w, Kind::remote(*o));
            }
        }
        w.u32(static_cast<uint32_t>(found.size()));
        call->reply(w);
    });
}

// The legacy listing calls clients fall back to: the number and the list of active
// objects (CONNECT_NUM_OF_DOMAINS, CONNECT_LIST_NETWORKS) or of inactive ones
// (..._DEFINED_...).
template <typename Kind> bool listsInactive(int32_t procedure) {
    return procedure == Kind::kFamily.numOfInactive || procedure == Kind::kFamily.listInactive;
}

template <typename Kind> void numOf(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    bool inactive = listsInactive<Kind>(call->procedure());
    withCache<Kind>(services, call, [call, inactive](const typename Kind::Cache& cache) {
        int32_t n = 0;
        for (const auto* o : cache.all()) {
            n += Kind::isActive(*o) != inactive ? 1 : 0;
        }
        xdr::Writer w;
        w.i32(n);
        call->reply(w);
    });
}

template <typename Kind> void list(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t max = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (max < 0 || static_cast<uint32_t>(max) > Kind::kWire.listMax) {
        call->fail(Error(Code::InvalidArgs,
                         "maximum of " + std::to_string(max) + " entries is out of range"));
        return;
    }
    bool inactive = listsInactive<Kind>(call->procedure());
    withCache<Kind>(services, call, [call, inactive, max](const typename Kind::Cache& cache) {
        std::vector<const typename Kind::Object*> found;
        for (const auto* o : cache.all()) {
            if (Kind::isActive(*o) != inactive && found.size() < static_cast<size_t>(max)) {
                found.push_back(o);
            }
        }
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(found.size()));
        for (const auto* o : found) {
            Kind::writeListed(w, *o, inactive);
        }
        call->reply(w);
    });
}

// IS_ACTIVE, IS_PERSISTENT and GET_AUTOSTART: (object) -> int, from the cache.
template <typename Kind> void fact(Services& services, const CallPtr& call, xdr::Reader& args) {
    typename Kind::Remote named = Kind::read(args);
    if (!argsDone(call, args)) {
        return;
    }
    withObject<Kind>(services, call, named, [call](const typename Kind::Object& o) {
        int32_t p = call->procedure();
        bool value = p == Kind::kFamily.isActive       ? Kind::isActive(o)
                     : p == Kind::kFamily.isPersistent ? o.persistent
                                                       : o.autostart;
        xdr::Writer w;
        w.i32(value ? 1 : 0);
        call->reply(w);
    });
}

// Arguments (remote_nonnull_<kind>, int or unsigned int): the object and the word, or
// nothing (the call answered) when they are malformed.
template <typename Kind>
std::optional<std::pair<typename Kind::Remote, uint32_t>> readObjectAndWord(const CallPtr& call,
                                                                            xdr::Reader& args) {
    typename Kind::Remote named = Kind::read(args);
    uint32_t word = args.u32(); // an int has the same four bytes
    if (!argsDone(call, args)) {
        return std::nullopt;
    }
    return std::pair{std::move(named), word};
}

template <typename Kind>
void setAutostart(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto request = readObjectAndWord<Kind>(call, args);
    if (!request) {
        return;
    }
    bool autostart = request->second != 0;
    withObject<Kind>(
        services, call, request->first,
        [&services, call, autostart](const typename Kind::Object& o) {
            std::string path = o.path;
            constexpr auto kAction = actions::forMethod(Kind::kBus.interface, "SetAutostart");
            authorizeObject<Kind>(services, call, kAction, o, [&services, call, path, autostart] {
                services.objects<Kind>().setAutostart(path, autostart, [call](Result<void> r) {
                    if (r) {
                        call->replyVoid();
                    } else {
                        call->fail(r.error());
                    }
                });
            });
        });
}

// GET_XML_DESC: after the client's check for GetXML (and, for secrets, the kind's
// secureAction).
template <typename Kind>
void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto request = readObjectAndWord<Kind>(call, args);
    if (!request) {
        return;
    }
    uint32_t flags = request->second;
    Options options;
    if ((flags & Kind::kWire.xmlInactive) != 0) {
        options["inactive"] = sdbus::Variant(true);
    }
    bool secure = (flags & Kind::kWire.xmlSecure) != 0;
    if (secure) {
        auto client = call->client();
        if (client && client->readOnly()) {
            // As libvirtd: secrets are never shown on a read-only connection.
            call->fail(readOnlyDenied(std::string("vir") + Kind::kFamily.noun +
                                      "GetXMLDesc with VIR_DOMAIN_XML_SECURE"));
            return;
        }
        options["secure"] = sdbus::Variant(true);
    }
    withObject<Kind>(
        services, call, request->first,
        [&services, call, options, secure](const typename Kind::Object& o) {
            std::string path = o.path;
            auto fetch = [&services, call, path, options] {
                // The bridge calls as root, whom the service trusts: this client's own rights
                // were checked, and the answer goes to this call only.
                services.objects<Kind>().getXml(path, options, [call](Result<std::string> xml) {
                    replyStringOrFail(call, xml);
                });
            };
            CachedObject subject = o;
            constexpr auto kAction = actions::forMethod(Kind::kBus.interface, "GetXML");
            authorizeObject<Kind>(
                services, call, kAction, o, [&services, call, subject, secure, fetch] {
                    if (!secure) {
                        fetch();
                        return;
                    }
                    authorizeObject<Kind>(services, call, Kind::kWire.secureAction, subject.name,
                                          subject.uuid, fetch);
                });
        });
}

// DEFINE_XML and CREATE_XML, once the procedure parsed the client's XML with the service's
// own parser (polkit needs the name and UUID as details before anything is forwarded):
// the client's check for the Manager method, then the method with the normalised XML (with
// the UUID generated in the bridge, if the client gave none, so the UUID checked is the UUID
// defined). The answer is the object as libvirt names it.
template <typename Kind>
void defineOrCreate(Services& services, const CallPtr& call, bool create,
                    const typename Kind::Remote& named, std::string xml, Options options,
                    std::chrono::milliseconds timeout) {
    constexpr auto kDefine = actions::forMethod(Kind::kBus.managerInterface, "DefineXML");
    constexpr auto kCreate = actions::forMethod(Kind::kBus.managerInterface, "CreateXML");
    auto forward = [&services, call, create, named, xml = std::move(xml),
                    options = std::move(options), timeout] {
        services.objects<Kind>().defineOrCreate(create ? "CreateXML" : "DefineXML", xml, options,
                                                timeout, [call, named](Result<std::string> path) {
                                                    if (!path) {
                                                        call->fail(path.error());
                                                        return;
                                                    }
                                                    xdr::Writer w;
                                                    Kind::write(w, named);
                                                    call->reply(w);
                                                });
    };
    authorizeObject<Kind>(services, call, create ? kCreate.actionId : kDefine.actionId, named.name,
                          named.uuid, std::move(forward));
}

// The family's procedure table for one kind, with the names derived from the kind's noun.
class Table {
public:
    struct Handlers {
        Handler lookup, listAll, numOf, list, fact, setAutostart, getXmlDesc;
    };
    Table(const ObjectFamily& family, const Handlers& handlers,
          std::span<const Procedure> kindSpecific);
    std::span<const Procedure> procedures() const { return m_procedures; }

private:
    std::vector<std::string> m_names;
    std::vector<Procedure> m_procedures;
};

// The family's procedures for `Kind` and then `kindSpecific`, in one table.
template <typename Kind>
std::span<const Procedure> procedures(std::span<const Procedure> kindSpecific) {
    static const Table table(Kind::kFamily,
                             Table::Handlers{lookup<Kind>, listAll<Kind>, numOf<Kind>, list<Kind>,
                                             fact<Kind>, setAutostart<Kind>, getXmlDesc<Kind>},
                             kindSpecific);
    return table.procedures();
}

} // namespace virtswarm::bridge::family
