// SPDX-License-Identifier: LGPL-2.1-or-later
// What the guest agent answers for a domain, besides its addresses
// (proc_domain_addresses.cpp): its clock (virDomainGetTime, virDomainSetTime: `virsh
// domtime`) and its host name (virDomainGetHostname: `virsh domhostname`).
#include "proc_object_family.hpp"
#include "rpc_error.hpp"

namespace virtswarm::bridge {
namespace {

constexpr auto kGetTime = actions::forMethod(names::kDomainInterface, "GetTime");
constexpr auto kSetTime = actions::forMethod(names::kDomainInterface, "SetTime");
constexpr auto kGetHostname = actions::forMethod(names::kDomainInterface, "GetHostname");

constexpr uint32_t kTimeSync = 1;      // VIR_DOMAIN_TIME_SYNC
constexpr uint32_t kHostnameLease = 1; // VIR_DOMAIN_GET_HOSTNAME_LEASE
constexpr uint32_t kHostnameAgent = 2; // VIR_DOMAIN_GET_HOSTNAME_AGENT

// Domain.GetTime's two results, read from its reply.
struct GuestClock {
    int64_t seconds = 0;
    uint32_t nseconds = 0;
};

sdbus::Message& operator>>(sdbus::Message& reply, GuestClock& clock) {
    return reply >> clock.seconds >> clock.nseconds;
}

// remote_domain_get_time_args: dom, flags (none); ret: hyper seconds, unsigned nseconds.
void getTime(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    withDomain(services, call, dom, [&services, call](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(services, call, kGetTime, d, [&services, call, path] {
            services.registry.call<GuestClock>(
                path, "GetTime", ServiceClient::kCallTimeout,
                [](sdbus::MethodCall& m) { m << Options{}; },
                [call](Result<GuestClock> clock) {
                    if (!clock) {
                        call->fail(clock.error());
                        return;
                    }
                    xdr::Writer w;
                    w.i64(clock.value().seconds);
                    w.u32(clock.value().nseconds);
                    call->reply(w);
                });
        });
    });
}

// remote_domain_set_time_args: dom, hyper seconds, unsigned nseconds, flags (SYNC).
void setTime(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    int64_t seconds = static_cast<int64_t>(args.u64());
    uint32_t nseconds = args.u32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kTimeSync)) {
        return;
    }
    Options options;
    if ((flags & kTimeSync) != 0) {
        options["sync"] = sdbus::Variant(true);
    }
    forwardToDomain(services, call, dom, kSetTime,
                    [seconds, nseconds, options](sdbus::MethodCall& m) {
                        m << seconds << nseconds << options;
                    });
}

// remote_domain_get_hostname_args: dom, flags (LEASE, AGENT; none: the agent, as QEMU's
// driver); ret: the name.
void getHostname(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kHostnameLease | kHostnameAgent)) {
        return;
    }
    if ((flags & kHostnameLease) != 0) {
        call->fail(Error(Code::NotSupported, "the host name from DHCP leases is not supported"));
        return;
    }
    withDomain(services, call, dom, [&services, call](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(services, call, kGetHostname, d, [&services, call, path] {
            services.registry.call<std::string>(
                path, "GetHostname", ServiceClient::kCallTimeout,
                [](sdbus::MethodCall& m) { m << Options{}; },
                [call](Result<std::string> name) { replyStringOrFail(call, name); });
        });
    });
}

constexpr Procedure kProcedures[] = {
    // Asking the guest is a write in libvirt (domain:write), setting its clock
    // domain:set_time.
    {proto::DomainGetTime, "virDomainGetTime", Access::Write, getTime},
    {proto::DomainSetTime, "virDomainSetTime", Access::Write, setTime},
    {proto::DomainGetHostname, "virDomainGetHostname", Access::Write, getHostname},
};

} // namespace

std::span<const Procedure> domainAgentProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
