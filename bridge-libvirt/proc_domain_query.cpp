// SPDX-License-Identifier: LGPL-2.1-or-later
// Domain procedures answered from the domain cache, without a D-Bus round trip: lookups,
// lists, state and the fixed answers for features the swarm does not have
// (managed save, snapshots, security labels).
#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::bridge {
namespace {

// virDomainVcpuFlags
constexpr uint32_t kVcpuLive = 1, kVcpuGuest = 8;

void replyInt(const CallPtr& call, int32_t v) {
    xdr::Writer w;
    w.i32(v);
    call->reply(w);
}

void replyDomain(const CallPtr& call, const CachedDomain& d) {
    xdr::Writer w;
    writeDomain(w, remoteDomain(d));
    call->reply(w);
}

void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.registry, call, [call, name](const DomainCache& cache) {
        if (const auto* d = cache.byName(name)) {
            replyDomain(call, *d);
        } else {
            call->fail(Error(Code::NoSuchDomain, "no domain with matching name '" + name + "'"));
        }
    });
}

void lookupByUuid(Services& services, const CallPtr& call, xdr::Reader& args) {
    UuidBytes uuid = readUuid(args);
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.registry, call, [call, uuid](const DomainCache& cache) {
        if (const auto* d = cache.byUuid(uuid)) {
            replyDomain(call, *d);
        } else {
            call->fail(Error(Code::NoSuchDomain,
                             "no domain with matching uuid '" + formatUuid(uuid) + "'"));
        }
    });
}

void lookupById(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t id = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.registry, call, [call, id](const DomainCache& cache) {
        if (const auto* d = cache.byId(id)) {
            replyDomain(call, *d);
        } else {
            call->fail(
                Error(Code::NoSuchDomain, "no domain with matching id " + std::to_string(id)));
        }
    });
}

void listAllDomains(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.registry, call, [call, needResults, flags](const DomainCache& cache) {
        std::vector<const CachedDomain*> found;
        for (const auto* d : cache.all()) {
            if (matchesListFlags(*d, flags) && found.size() < proto::kDomainListMax) {
                found.push_back(d);
            }
        }
        xdr::Writer w;
        // need_results == 0 asks for the count only.
        w.u32(needResults != 0 ? static_cast<uint32_t>(found.size()) : 0);
        if (needResults != 0) {
            for (const auto* d : found) {
                writeDomain(w, remoteDomain(*d));
            }
        }
        w.u32(static_cast<uint32_t>(found.size()));
        call->reply(w);
    });
}

// The legacy listing calls clients fall back to (numbers of running domains, names of
// inactive ones).
void numOfDomains(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    bool defined = call->procedure() == proto::ConnectNumOfDefinedDomains;
    whenCacheSynced(services.registry, call, [call, defined](const DomainCache& cache) {
        int32_t n = 0;
        for (const auto* d : cache.all()) {
            n += d->active() != defined ? 1 : 0;
        }
        replyInt(call, n);
    });
}

void listDomains(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t max = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    bool defined = call->procedure() == proto::ConnectListDefinedDomains;
    uint32_t limit = defined ? proto::kDomainNameListMax : proto::kDomainIdListMax;
    if (max < 0 || static_cast<uint32_t>(max) > limit) {
        call->fail(Error(Code::InvalidArgs,
                         "maximum of " + std::to_string(max) + " entries is out of range"));
        return;
    }
    whenCacheSynced(services.registry, call, [call, defined, max](const DomainCache& cache) {
        std::vector<const CachedDomain*> found;
        for (const auto* d : cache.all()) {
            if (d->active() != defined && found.size() < static_cast<size_t>(max)) {
                found.push_back(d);
            }
        }
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(found.size()));
        for (const auto* d : found) {
            if (defined) {
                w.string(d->name);
            } else {
                w.i32(d->id);
            }
        }
        call->reply(w);
    });
}

// Procedures of the shape (remote_nonnull_domain dom [, unsigned int flags]) -> ret, answered
// from the cache. The procedure number selects the answer.
bool hasFlagsArgument(int32_t procedure) {
    switch (procedure) {
    case proto::DomainGetState:
    case proto::DomainHasManagedSaveImage:
    case proto::DomainSnapshotNum:
    case proto::DomainGetVcpusFlags:
    case proto::DomainGetMessages:
        return true;
    default:
        return false;
    }
}

void answerFromCache(const CallPtr& call, const CachedDomain& d, uint32_t flags) {
    xdr::Writer w;
    switch (call->procedure()) {
    case proto::DomainGetState:
        w.i32(libvirtStateNumber(d.state));
        w.i32(libvirtReasonNumber(d.state, d.reason));
        break;
    case proto::DomainGetOsType:
        w.string("hvm");
        break;
    case proto::DomainIsActive:
        w.i32(d.active() ? 1 : 0);
        break;
    case proto::DomainIsPersistent:
        w.i32(d.persistent ? 1 : 0);
        break;
    case proto::DomainIsUpdated:
        w.i32(0);
        break;
    case proto::DomainGetAutostart:
        w.i32(d.autostart ? 1 : 0);
        break;
    case proto::DomainGetMaxMemory:
        w.u64(d.memoryKiB);
        break;
    case proto::DomainGetMaxVcpus:
        w.i32(static_cast<int32_t>(d.vcpus));
        break;
    case proto::DomainHasManagedSaveImage:
        w.i32(d.hasManagedSave ? 1 : 0);
        break;
    case proto::DomainSnapshotNum:
        w.i32(0);
        break;
    case proto::DomainGetVcpusFlags:
        if ((flags & kVcpuGuest) != 0) {
            call->fail(Error(Code::NotSupported, "vCPU counts from the guest agent are not "
                                                 "supported"));
            return;
        }
        if ((flags & kVcpuLive) != 0 && !d.active()) {
            call->fail(Error(Code::InvalidState, "domain '" + d.name + "' is not running"));
            return;
        }
        w.i32(static_cast<int32_t>(d.vcpus));
        break;
    case proto::DomainGetSecurityLabel:
        writeCharArray(w, ""); // no security driver: empty label, not enforcing
        w.i32(0);
        break;
    case proto::DomainGetMessages:
        w.u32(0);
        break;
    default:
        call->fail(Error(Code::Internal,
                         "no cached answer for procedure " + std::to_string(call->procedure())));
        return;
    }
    call->reply(w);
}

void domainFromCache(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = hasFlagsArgument(call->procedure()) ? args.u32() : 0;
    if (!argsDone(call, args)) {
        return;
    }
    withDomain(services, call, dom,
               [call, flags](const CachedDomain& d) { answerFromCache(call, d, flags); });
}

void listAllSnapshots(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    int32_t needResults = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    (void)needResults;
    withDomain(services, call, dom, [call](const CachedDomain&) {
        xdr::Writer w;
        w.u32(0); // no snapshots
        w.i32(0);
        call->reply(w);
    });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    constexpr uint32_t kXmlSecure = 1;
    constexpr uint32_t kXmlInactive = 2;
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    bool secure = (flags & kXmlSecure) != 0;
    auto client = call->client();
    if (secure && client && client->readOnly()) {
        // As libvirtd: secrets are never shown on a read-only connection.
        call->fail(readOnlyDenied("virDomainGetXMLDesc with VIR_DOMAIN_XML_SECURE"));
        return;
    }
    withDomain(services, call, dom, [&services, call, flags, secure](const CachedDomain& d) {
        std::string path = d.path;
        auto fetch = [&services, call, path, flags, secure] {
            // The bridge calls as root, whom the registry trusts: this client's own
            // read-secure was checked above, and the answer goes to this call only.
            services.registry.getXml(path, (flags & kXmlInactive) != 0, secure,
                                     [call](Result<std::string> xml) {
                                         if (!xml) {
                                             call->fail(xml.error());
                                             return;
                                         }
                                         xdr::Writer w;
                                         w.string(xml.value());
                                         call->reply(w);
                                     });
        };
        std::string name = d.name;
        UuidBytes uuid = d.uuid;
        authorize(services, call, "org.virtswarm.domain.read", name, uuid,
                  [&services, call, name, uuid, secure, fetch] {
                      if (!secure) {
                          fetch();
                          return;
                      }
                      authorize(services, call, "org.virtswarm.domain.read-secure", name, uuid,
                                fetch);
                  });
    });
}

// virDomainInterfaceAddresses. Only VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT (1) is
// served: the lease (0) and arp (2) sources are NotSupported.
void interfaceAddresses(Services& services, const CallPtr& call, xdr::Reader& args) {
    constexpr uint32_t kSourceAgent = 1;
    constexpr int32_t kIpv4 = 0; // virIPAddrType
    constexpr int32_t kIpv6 = 1;
    RemoteDomain dom = readDomain(args);
    uint32_t source = args.u32();
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    if (source != kSourceAgent) {
        call->fail(Error(Code::NotSupported, "interface address source " + std::to_string(source) +
                                                 " is not supported (only the agent, 1)"));
        return;
    }
    withDomain(services, call, dom, [&services, call](const CachedDomain& d) {
        std::string path = d.path;
        // libvirt: domain:write for the agent source, as the registry checks too.
        authorize(services, call, "org.virtswarm.domain.write", d.name, d.uuid,
                  [&services, call, path] {
                      services.registry.interfaceAddresses(
                          path, [call](Result<std::vector<GuestInterfaceWire>> interfaces) {
                              if (!interfaces) {
                                  call->fail(interfaces.error());
                                  return;
                              }
                              xdr::Writer w;
                              w.u32(static_cast<uint32_t>(interfaces.value().size()));
                              for (const auto& nic : interfaces.value()) {
                                  w.string(nic.get<0>());
                                  const std::string& hw = nic.get<1>();
                                  w.optionalString(hw.empty() ? std::nullopt
                                                              : std::optional<std::string>(hw));
                                  const auto& addresses = nic.get<2>();
                                  w.u32(static_cast<uint32_t>(addresses.size()));
                                  for (const auto& a : addresses) {
                                      w.i32(a.get<0>() == "ipv6" ? kIpv6 : kIpv4);
                                      w.string(a.get<1>());
                                      w.u32(a.get<2>());
                                  }
                              }
                              call->reply(w);
                          });
                  });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainLookupByName, "virDomainLookupByName", Access::Read, lookupByName},
    {proto::DomainLookupByUuid, "virDomainLookupByUUID", Access::Read, lookupByUuid},
    {proto::DomainLookupById, "virDomainLookupByID", Access::Read, lookupById},
    {proto::ConnectListAllDomains, "virConnectListAllDomains", Access::Read, listAllDomains},
    {proto::ConnectNumOfDomains, "virConnectNumOfDomains", Access::Read, numOfDomains},
    {proto::ConnectNumOfDefinedDomains, "virConnectNumOfDefinedDomains", Access::Read,
     numOfDomains},
    {proto::ConnectListDomains, "virConnectListDomains", Access::Read, listDomains},
    {proto::ConnectListDefinedDomains, "virConnectListDefinedDomains", Access::Read, listDomains},
    {proto::DomainGetState, "virDomainGetState", Access::Read, domainFromCache},
    {proto::DomainGetOsType, "virDomainGetOSType", Access::Read, domainFromCache},
    {proto::DomainIsActive, "virDomainIsActive", Access::Read, domainFromCache},
    {proto::DomainIsPersistent, "virDomainIsPersistent", Access::Read, domainFromCache},
    {proto::DomainIsUpdated, "virDomainIsUpdated", Access::Read, domainFromCache},
    {proto::DomainGetAutostart, "virDomainGetAutostart", Access::Read, domainFromCache},
    {proto::DomainGetMaxMemory, "virDomainGetMaxMemory", Access::Read, domainFromCache},
    {proto::DomainGetMaxVcpus, "virDomainGetMaxVcpus", Access::Read, domainFromCache},
    {proto::DomainHasManagedSaveImage, "virDomainHasManagedSaveImage", Access::Read,
     domainFromCache},
    {proto::DomainSnapshotNum, "virDomainSnapshotNum", Access::Read, domainFromCache},
    {proto::DomainListAllSnapshots, "virDomainListAllSnapshots", Access::Read, listAllSnapshots},
    {proto::DomainGetVcpusFlags, "virDomainGetVcpusFlags", Access::Read, domainFromCache},
    {proto::DomainGetSecurityLabel, "virDomainGetSecurityLabel", Access::Read, domainFromCache},
    {proto::DomainGetMessages, "virDomainGetMessages", Access::Read, domainFromCache},
    {proto::DomainGetXmlDesc, "virDomainGetXMLDesc", Access::Read, getXmlDesc},
    {proto::DomainInterfaceAddresses, "virDomainInterfaceAddresses", Access::Write,
     interfaceAddresses},
};

} // namespace

std::span<const Procedure> domainQueryProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
