// SPDX-License-Identifier: LGPL-2.1-or-later
// Network procedures beyond the family every kind has (proc_object_family.hpp): the
// bridge's name (from the network cache) and, after the client's polkit check for
// org.virtswarm.network.read, the DHCP leases (forwarded to networkd).
#include "proc_object_family.hpp"

#include <algorithm>
#include <cctype>

namespace virtswarm::bridge {
namespace {

constexpr auto kGetDhcpLeases = actions::forMethod(names::kNetworkInterface, "GetDHCPLeases");

void getBridgeName(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteNetwork net = readNetwork(args);
    if (!argsDone(call, args)) {
        return;
    }
    withObject<NetworkKind>(services, call, net, [call](const CachedNetwork& n) {
        xdr::Writer w;
        w.string(n.bridge);
        call->reply(w);
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
    withObject<NetworkKind>(
        services, call, net, [&services, call, mac, needResults](const CachedNetwork& n) {
            std::string path = n.path;
            authorizeObject<NetworkKind>(
                services, call, kGetDhcpLeases, n, [&services, call, path, mac, needResults] {
                    services.networks.getDhcpLeases(
                        path, mac, [call, needResults](Result<std::vector<DhcpLease>> leases) {
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
    {proto::NetworkGetBridgeName, "virNetworkGetBridgeName", Access::Read, getBridgeName},
    {proto::NetworkGetDhcpLeases, "virNetworkGetDHCPLeases", Access::Read, getDhcpLeases},
};

} // namespace

std::span<const Procedure> networkQueryProcedures() {
    return family::procedures<NetworkKind>(kProcedures);
}

} // namespace virtswarm::bridge
