// SPDX-License-Identifier: LGPL-2.1-or-later
// virDomainInterfaceAddresses (`virsh domifaddr`, Cockpit's and virt-manager's guest
// addresses), from the two sources the swarm knows: the DHCP leases of its networks
// (VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0: the default) and the guest agent
// (SRC_AGENT, 1). The ARP source (2) is NotSupported.
#include "proc_object_family.hpp"
#include "rpc_error.hpp"
#include "virtswarm/domain_def.hpp"

#include <memory>

namespace virtswarm::bridge {
namespace {

constexpr uint32_t kSourceLease = 0;
constexpr uint32_t kSourceAgent = 1;
constexpr int32_t kIpv4 = 0; // virIPAddrType
constexpr int32_t kIpv6 = 1;

constexpr auto kAgentAddresses = actions::forMethod(names::kDomainInterface, "InterfaceAddresses");

// remote_domain_interface: name, optional hardware address, addresses (type, address,
// prefix).
void writeInterface(xdr::Writer& w, const std::string& name, const std::string& hw,
                    const std::vector<GuestAddressWire>& addresses) {
    w.string(name);
    w.optionalString(hw.empty() ? std::nullopt : std::optional<std::string>(hw));
    w.u32(static_cast<uint32_t>(addresses.size()));
    for (const auto& a : addresses) {
        w.i32(a.get<0>() == "ipv6" ? kIpv6 : kIpv4);
        w.string(a.get<1>());
        w.u32(a.get<2>());
    }
}

void replyInterfaces(const CallPtr& call, const std::vector<GuestInterfaceWire>& interfaces) {
    xdr::Writer w;
    w.u32(static_cast<uint32_t>(interfaces.size()));
    for (const auto& nic : interfaces) {
        writeInterface(w, nic.get<0>(), nic.get<1>(), nic.get<2>());
    }
    call->reply(w);
}

// The agent's view: libvirt asks domain:write for it, as the registry does.
void fromAgent(Services& services, const CallPtr& call, const CachedDomain& d) {
    std::string path = d.path;
    authorizeObject<DomainKind>(services, call, kAgentAddresses, d, [&services, call, path] {
        services.registry.interfaceAddresses(
            path, [call](Result<std::vector<GuestInterfaceWire>> interfaces) {
                if (!interfaces) {
                    call->fail(interfaces.error());
                    return;
                }
                replyInterfaces(call, interfaces.value());
            });
    });
}

// The leases networkd's DHCP servers gave the MACs of the domain's NICs on its networks,
// as libvirt's lease source: one entry per NIC that has a lease, named after its TAP.
struct LeaseGathering {
    CallPtr call;
    std::vector<GuestInterfaceWire> found; // by NIC, empty names for NICs without leases
    size_t pending = 0;

    void done() {
        if (--pending > 0) {
            return;
        }
        std::vector<GuestInterfaceWire> withLeases;
        for (auto& nic : found) {
            if (!nic.get<2>().empty()) {
                withLeases.push_back(std::move(nic));
            }
        }
        replyInterfaces(call, withLeases);
    }
};

void fromLeases(Services& services, const CallPtr& call, const std::string& liveXml) {
    auto live = parseDomainXml(liveXml);
    if (!live) {
        call->fail(live.error());
        return;
    }
    const auto& nics = live.value().def.interfaces;
    auto gathering = std::make_shared<LeaseGathering>();
    gathering->call = call;
    gathering->found.resize(nics.size());
    gathering->pending = 1; // released below, once every lookup is on its way
    for (size_t i = 0; i < nics.size(); ++i) {
        const InterfaceDef& nic = nics[i];
        const CachedNetwork* network =
            nic.type == "network" ? services.networks.cache().byName(nic.source) : nullptr;
        if (network == nullptr) {
            continue;
        }
        ++gathering->pending;
        services.networks.getDhcpLeases(
            network->path, nic.mac, [gathering, i, nic](Result<std::vector<DhcpLease>> leases) {
                std::vector<GuestAddressWire> addresses;
                for (const auto& l : leases ? leases.value() : std::vector<DhcpLease>{}) {
                    addresses.emplace_back(l.type == kIpv6 ? "ipv6" : "ipv4", l.ipaddr, l.prefix);
                }
                gathering->found[i] =
                    GuestInterfaceWire(nic.hostDevice, nic.mac, std::move(addresses));
                gathering->done();
            });
    }
    gathering->done();
}

// The lease source reads (libvirt's domain:read): the live XML names the NICs, once the
// network cache can name their networks.
void fromLeasesOf(Services& services, const CallPtr& call, const CachedDomain& d) {
    std::string path = d.path;
    authorize(services, call, "org.virtswarm.domain.read", d.name, d.uuid, [&services, call, path] {
        services.networks.whenSynced([&services, call, path](Result<void>) {
            services.registry.getXml(path, {}, [&services, call](Result<std::string> xml) {
                if (!xml) {
                    call->fail(xml.error());
                    return;
                }
                fromLeases(services, call, xml.value());
            });
        });
    });
}

void interfaceAddresses(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t source = args.u32();
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    if (source != kSourceLease && source != kSourceAgent) {
        call->fail(Error(Code::NotSupported, "interface address source " + std::to_string(source) +
                                                 " is not supported (leases 0, the agent 1)"));
        return;
    }
    // As libvirt: asking the agent is a write, refused on a read-only connection.
    if (auto client = call->client(); client && source == kSourceAgent && client->readOnly()) {
        call->fail(readOnlyDenied("virDomainInterfaceAddresses"));
        return;
    }
    withDomain(services, call, dom, [&services, call, source](const CachedDomain& d) {
        if (source == kSourceAgent) {
            fromAgent(services, call, d);
        } else {
            fromLeasesOf(services, call, d);
        }
    });
}

constexpr Procedure kProcedures[] = {
    // Read: the lease source reads; the agent source is checked as a write above.
    {proto::DomainInterfaceAddresses, "virDomainInterfaceAddresses", Access::Read,
     interfaceAddresses},
};

} // namespace

std::span<const Procedure> domainAddressProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
