// SPDX-License-Identifier: LGPL-2.1-or-later
// CONNECT_GET_ALL_DOMAIN_STATS (virsh domstats): one Manager.GetAllStats round trip, whose
// a{sv} per domain becomes libvirt's typed parameters. The registry answers within a
// deadline whatever the shims do, so a stuck QEMU cannot stall the client.
#include "domain_stats_record.hpp"
#include "procedures.hpp"
#include "protocol.hpp"

#include <chrono>

namespace virtswarm::bridge {
namespace {

constexpr std::chrono::milliseconds kStatsDeadline{2000};
constexpr size_t kMinDomainSize = 4 + 16 + 4; // empty name, uuid, id

// virDomainStatsTypes and the key prefix of each group.
struct Group {
    uint32_t bit;
    std::string_view prefix;
};
constexpr Group kGroups[] = {{1, "state."}, {2, "cpu."},  {4, "balloon."},
                             {8, "vcpu."},  {16, "net."}, {32, "block."}};

// Only libvirt's groups go out: GetStats also carries keys of its own (vcpuhost.*, the
// placement virDomainGetVcpus reports; unavailable.reason).
bool wanted(const std::string& key, uint32_t stats) {
    for (const auto& g : kGroups) {
        if ((stats == 0 || (stats & g.bit) != 0) && key.starts_with(g.prefix)) {
            return true;
        }
    }
    return false;
}

struct Wanted {
    RemoteDomain dom;
    std::string path;
    bool allowed = false;
};

// The domains whose read permission is being checked, answered when the last verdict is in.
struct StatsRequest {
    CallPtr call;
    uint32_t stats = 0;
    std::vector<Wanted> domains;
    size_t outstanding = 0;
};

void reply(Services& services, const std::shared_ptr<StatsRequest>& req) {
    services.registry.getAllStats(kStatsDeadline, [req](Result<RegistryClient::AllStats> all) {
        if (!all) {
            req->call->fail(all.error());
            return;
        }
        xdr::Writer w;
        uint32_t count = 0;
        for (const auto& d : req->domains) {
            count += d.allowed && all.value().count(sdbus::ObjectPath(d.path)) != 0 ? 1 : 0;
        }
        w.u32(count);
        for (const auto& d : req->domains) {
            auto it = all.value().find(sdbus::ObjectPath(d.path));
            if (!d.allowed || it == all.value().end()) {
                continue;
            }
            std::vector<TypedParam> params;
            for (const auto& [key, value] : it->second) {
                if (!wanted(key, req->stats)) {
                    continue;
                }
                if (auto v = typedValue(value)) {
                    params.push_back(TypedParam{key, std::move(*v)});
                }
            }
            writeDomain(w, d.dom);
            writeTypedParams(w, params);
        }
        req->call->reply(w);
    });
}

void getAllDomainStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::vector<RemoteDomain> named;
    uint32_t n = args.arrayCount(proto::kDomainListMax, kMinDomainSize);
    for (uint32_t i = 0; i < n && args.ok(); ++i) {
        named.push_back(readDomain(args));
    }
    uint32_t stats = args.u32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(
        services.registry, call, [&services, call, named, stats, flags](const DomainCache& cache) {
            auto req = std::make_shared<StatsRequest>();
            req->call = call;
            req->stats = stats;
            if (named.empty()) {
                for (const auto* d : cache.all()) {
                    if (matchesListFlags(*d, flags & 0xff)) {
                        req->domains.push_back(Wanted{remoteDomain(*d), d->path});
                    }
                }
            } else {
                for (const auto& dom : named) {
                    const CachedDomain* d = cache.byUuid(dom.uuid);
                    if (d == nullptr) {
                        call->fail(Error(Code::NoSuchDomain, "no domain with matching uuid '" +
                                                                 formatUuid(dom.uuid) + "'"));
                        return;
                    }
                    req->domains.push_back(Wanted{remoteDomain(*d), d->path});
                }
            }
            if (req->domains.empty()) {
                reply(services, req);
                return;
            }
            // Domains the client may not read are left out, as libvirt's ACL filter does; a
            // client without credentials (TCP) may read none.
            auto client = call->client();
            if (!client || !client->peer().known) {
                reply(services, req);
                return;
            }
            if (client->managesLibvirt()) {
                for (auto& d : req->domains) {
                    d.allowed = true;
                }
                reply(services, req);
                return;
            }
            req->outstanding = req->domains.size();
            PeerIdentity peer = client->peer();
            for (size_t i = 0; i < req->domains.size(); ++i) {
                PolkitDetails details{{"domain_name", req->domains[i].dom.name},
                                      {"domain_uuid", formatUuid(req->domains[i].dom.uuid)}};
                services.authority.checkProcess(peer.pid, peer.uid, "org.virtswarm.domain.read",
                                                details, [&services, req, i](Result<void> verdict) {
                                                    req->domains[i].allowed = verdict.ok();
                                                    if (--req->outstanding == 0) {
                                                        reply(services, req);
                                                    }
                                                });
            }
        });
}

constexpr Procedure kProcedures[] = {
    {proto::ConnectGetAllDomainStats, "virConnectGetAllDomainStats", Access::Read,
     getAllDomainStats},
};

} // namespace

std::span<const Procedure> domainStatsProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
