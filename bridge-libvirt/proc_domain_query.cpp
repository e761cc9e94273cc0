// SPDX-License-Identifier: LGPL-2.1-or-later
// Domain procedures beyond the family every kind has (proc_object_family.hpp): lookup by
// id, state answered from the domain cache, the fixed answers for features the
// swarm does not have (snapshots, security labels) and the guest's interface addresses.
#include "proc_object_family.hpp"
#include "rpc_error.hpp"
#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::bridge {
namespace {

constexpr auto kInterfaceAddresses =
    actions::forMethod(names::kDomainInterface, "InterfaceAddresses");

void lookupById(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t id = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.registry, call, [call, id](const DomainCache& cache) {
        if (const auto* d = cache.byId(id)) {
            family::replyObject<DomainKind>(call, *d);
        } else {
            call->fail(
                Error(Code::NoSuchDomain, "no domain with matching id " + std::to_string(id)));
        }
    });
}

// Procedures of the shape (remote_nonnull_domain dom [, unsigned int flags]) -> ret, answered
// from the cache. The procedure number selects the answer.
bool hasFlagsArgument(int32_t procedure) {
    switch (procedure) {
    case proto::DomainGetState:
    case proto::DomainHasManagedSaveImage:
    case proto::DomainGetMessages:
        return true;
    default:
        return false;
    }
}

void answerFromCache(const CallPtr& call, const CachedDomain& d) {
    xdr::Writer w;
    switch (call->procedure()) {
    case proto::DomainGetState:
        w.i32(libvirtStateNumber(d.state));
        w.i32(libvirtReasonNumber(d.state, d.reason));
        break;
    case proto::DomainGetOsType:
        w.string("hvm");
        break;
    case proto::DomainIsUpdated:
        w.i32(0);
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
    if (hasFlagsArgument(call->procedure())) {
        (void)args.u32(); // flags: none changes these answers
    }
    if (!argsDone(call, args)) {
        return;
    }
    withDomain(services, call, dom, [call](const CachedDomain& d) { answerFromCache(call, d); });
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
        authorizeObject<DomainKind>(
            services, call, kInterfaceAddresses, d, [&services, call, path] {
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
    {proto::DomainLookupById, "virDomainLookupByID", Access::Read, lookupById},
    {proto::DomainGetState, "virDomainGetState", Access::Read, domainFromCache},
    {proto::DomainGetOsType, "virDomainGetOSType", Access::Read, domainFromCache},
    {proto::DomainIsUpdated, "virDomainIsUpdated", Access::Read, domainFromCache},
    {proto::DomainGetMaxMemory, "virDomainGetMaxMemory", Access::Read, domainFromCache},
    {proto::DomainGetMaxVcpus, "virDomainGetMaxVcpus", Access::Read, domainFromCache},
    {proto::DomainHasManagedSaveImage, "virDomainHasManagedSaveImage", Access::Read,
     domainFromCache},
    {proto::DomainGetSecurityLabel, "virDomainGetSecurityLabel", Access::Read, domainFromCache},
    {proto::DomainGetMessages, "virDomainGetMessages", Access::Read, domainFromCache},
    {proto::DomainInterfaceAddresses, "virDomainInterfaceAddresses", Access::Write,
     interfaceAddresses},
};

} // namespace

std::span<const Procedure> domainQueryProcedures() {
    return family::procedures<DomainKind>(kProcedures);
}

} // namespace virtswarm::bridge
