// SPDX-License-Identifier: LGPL-2.1-or-later
// Domain procedures beyond the family every kind has (proc_object_family.hpp): lookup by
// id, state answered from the domain cache, the fixed answers for features the
// swarm does not have (snapshots, security labels).
#include "proc_object_family.hpp"
#include "rpc_error.hpp"
#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::bridge {
namespace {

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
};

} // namespace

std::span<const Procedure> domainQueryProcedures() {
    return family::procedures<DomainKind>(kProcedures);
}

} // namespace virtswarm::bridge
