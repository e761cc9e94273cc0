// SPDX-License-Identifier: LGPL-2.1-or-later
// Network procedures that change nothing: lookups, lists, net-info's facts (answered from
// the network cache, without a D-Bus round trip) and, after the client's polkit check for
// org.virtswarm.network.read, the XML and the DHCP leases (forwarded to networkd).
#include "procedures.hpp"
#include "protocol.hpp"

#include <algorithm>
#include <cctype>

namespace virtswarm::bridge {
namespace {

// virNetworkXMLFlags
constexpr uint32_t kXmlInactive = 1;

void replyInt(const CallPtr& call, int32_t v) {
    xdr::Writer w;
    w.i32(v);
    call->reply(w);
}

void replyNetwork(const CallPtr& call, const CachedNetwork& n) {
    xdr::Writer w;
    writeNetwork(w, remoteNetwork(n));
    call->reply(w);
}

void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.networks, call, [call, name](const NetworkCache& cache) {
        if (const auto* n = cache.byName(name)) {
            replyNetwork(call, *n);
        } else {
            call->fail(Error(Code::NoSuchNetwork, "no network with matching name '" + name + "'"));
        }
    });
}

void lookupByUuid(Services& services, const CallPtr& call, xdr::Reader& args) {
    UuidBytes uuid = readUuid(args);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.networks, call, [call, uuid](const NetworkCache& cache) {
        if (const auto* n = cache.byUuid(uuid)) {
            replyNetwork(call, *n);
        } else {
            call->fail(Error(Code::NoSuchNetwork,
                             "no network with matching uuid '" + formatUuid(uuid) + "'"));
        }
    });
}

void listAllNetworks(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.networks, call, [call, needResults, flags](const NetworkCache& cache) {
        std::vector<const CachedNetwork*> found;
        for (const auto* n : cache.all()) {
            if (matchesNetworkListFlags(*n, flags) && found.size() < proto::kNetworkListMax) {
                found.push_back(n);
            }
        }
        xdr::Writer w;
        // need_results == 0 asks for the count only.
        w.u32(needResults != 0 ? static_cast<uint32_t>(found.size()) : 0);
        if (needResults != 0) {
            for (const auto* n : found) {
                writeNetwork(w, remoteNetwork(*n));
            }
        }
        w.u32(static_cast<uint32_t>(found.size()));
        call->reply(w);
    });
}

// The legacy listing calls clients fall back to: numbers and names of active networks
// (NUM_OF_NETWORKS, LIST_NETWORKS) and of inactive ones (..._DEFINED_...).
bool listsInactive(int32_t procedure) {
    return procedure == proto::ConnectNumOfDefinedNetworks ||
           procedure == proto::ConnectListDefinedNetworks;
}

void numOfNetworks(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    bool inactive = listsInactive(call->procedure());
    whenCacheSynced(services.networks, call, [call, inactive](const NetworkCache& cache) {
        int32_t n = 0;
        for (const auto* net : cache.all()) {
            n += net->active != inactive ? 1 : 0;
        }
        replyInt(call, n);
    });
}

void listNetworks(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t max = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (max < 0 || static_cast<uint32_t>(max) > proto::kNetworkListMax) {
        call->fail(Error(Code::InvalidArgs,
                         "maximum of " + std::to_string(max) + " entries is out of range"));
        return;
    }
    bool inactive = listsInactive(call->procedure());
    whenCacheSynced(services.networks, call, [call, inactive, max](const NetworkCache& cache) {
        std::vector<std::string> names;
        for (const auto* n : cache.all()) {
            if (n->active != inactive && names.size() < static_cast<size_t>(max)) {
                names.push_back(n->name);
            }
        }
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(names.size()));
        for (const auto& name : names) {
            w.string(name);
        }
        call->reply(w);
    });
}

// Procedures of the shape (remote_nonnull_network net) -> ret, answered from the cache.
void networkFromCache(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteNetwork net = readNetwork(args);
    if (!argsDone(call, args)) {
        return;
    }
    withNetwork(services, call, net, [call](const CachedNetwork& n) {
        xdr::Writer w;
        switch (call->procedure()) {
        case proto::NetworkIsActive:
            w.i32(n.active ? 1 : 0);
            break;
        case proto::NetworkIsPersistent:
            w.i32(n.persistent ? 1 : 0);
            break;
        case proto::NetworkGetAutostart:
            w.i32(n.autostart ? 1 : 0);
            break;
        case proto::NetworkGetBridgeName:
            w.string(n.bridge);
            break;
        default:
            call->fail(Error(Code::Internal, "no cached answer for procedure " +
                                                 std::to_string(call->procedure())));
            return;
        }
        call->reply(w);
    });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteNetwork net = readNetwork(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    withNetwork(services, call, net, [&services, call, flags](const CachedNetwork& n) {
        std::string path = n.path;
        authorizeNetwork(services, call, "org.virtswarm.network.read", n.name, n.uuid,
                         [&services, call, path, flags] {
                             services.networks.getXml(path, (flags & kXmlInactive) != 0,
                                                      [call](Result<std::string> xml) {
                                                          if (!xml) {
                                                              call->fail(xml.error());
                                                              return;
                                                          }
                                                          xdr::Writer w;
                                                          w.string(xml.value());
                                                          call->reply(w);
                                                      });
                         });
    });
}

// libvirt compares MAC addresses case-insensitively; dnsmasq records them in lower case.
std::string lowerCase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

void replyLeases(const CallPtr& call, const std::vector<DhcpLease>& leases, bool needResults) {
    size_t count = std::min<size_t>(leases.size(), proto::kNetworkDhcpLeasesMax);
    xdr::Writer w;
    // need_results == 0 asks for the count only.
    w.u32(needResults ? static_cast<uint32_t>(count) : 0);
    for (size_t i = 0; needResults && i < count; ++i) {
        writeDhcpLease(w, leases[i]);
    }
    w.u32(static_cast<uint32_t>(count));
    call->reply(w);
}

void getDhcpLeases(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteNetwork net = readNetwork(args);
    std::string mac = lowerCase(args.optionalString(proto::kStringMax).value_or(""));
    bool needResults = args.i32() != 0;
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    withNetwork(services, call, net, [&services, call, mac, needResults](const CachedNetwork& n) {
        std::string path = n.path;
        authorizeNetwork(services, call, "org.virtswarm.network.read", n.name, n.uuid,
                         [&services, call, path, mac, needResults] {
                             services.networks.getDhcpLeases(
                                 path, mac,
                                 [call, needResults](Result<std::vector<DhcpLease>> leases) {
                                     if (!leases) {
                                         call->fail(leases.error());
                                         return;
                                     }
                                     replyLeases(call, leases.value(), needResults);
                                 });
                         });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::NetworkLookupByName, "virNetworkLookupByName", Access::Read, lookupByName},
    {proto::NetworkLookupByUuid, "virNetworkLookupByUUID", Access::Read, lookupByUuid},
    {proto::ConnectListAllNetworks, "virConnectListAllNetworks", Access::Read, listAllNetworks},
    {proto::ConnectNumOfNetworks, "virConnectNumOfNetworks", Access::Read, numOfNetworks},
    {proto::ConnectNumOfDefinedNetworks, "virConnectNumOfDefinedNetworks", Access::Read,
     numOfNetworks},
    {proto::ConnectListNetworks, "virConnectListNetworks", Access::Read, listNetworks},
    {proto::ConnectListDefinedNetworks, "virConnectListDefinedNetworks", Access::Read,
     listNetworks},
    {proto::NetworkIsActive, "virNetworkIsActive", Access::Read, networkFromCache},
    {proto::NetworkIsPersistent, "virNetworkIsPersistent", Access::Read, networkFromCache},
    {proto::NetworkGetAutostart, "virNetworkGetAutostart", Access::Read, networkFromCache},
    {proto::NetworkGetBridgeName, "virNetworkGetBridgeName", Access::Read, networkFromCache},
    {proto::NetworkGetXmlDesc, "virNetworkGetXMLDesc", Access::Read, getXmlDesc},
    {proto::NetworkGetDhcpLeases, "virNetworkGetDHCPLeases", Access::Read, getDhcpLeases},
};

} // namespace

std::span<const Procedure> networkQueryProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
