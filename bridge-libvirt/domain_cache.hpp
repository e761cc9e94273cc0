// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "object_family.hpp"
#include "protocol.hpp"
#include "remote_types.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/error.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"

#include <cstdint>
#include <string>

// The bridge's copy of the registry's domains (org.virtswarm.Hypervisor1.Domain objects).
// Lookups, lists, dominfo and domstate are answered from it without a D-Bus round trip.
namespace virtswarm::bridge {

struct CachedDomain : CachedObject {
    int32_t id = -1;
    std::string state{toString(DomainState::Shutoff)};
    std::string reason{toString(DomainReason::Unknown)};
    bool persistent = false;
    bool autostart = false;
    bool hasManagedSave = false;
    uint32_t vcpus = 0;
    uint64_t memoryKiB = 0;
    uint32_t currentVcpus = 0;
    uint64_t currentMemoryKiB = 0;

    bool active() const { return parseDomainState(state) != DomainState::Shutoff; }
};

class DomainCache;

// Where domains live on the bus, what the bridge mirrors of them (object_client.hpp) and
// how libvirt's procedures name them (proc_object_family.hpp).
struct DomainKind {
    using Object = CachedDomain;
    using Cache = DomainCache;
    static constexpr ObjectBus kBus = ObjectBus(
        names::kHypervisorBusName, names::kHypervisorRootPath, names::kHypervisorManagerInterface,
        names::kDomainInterface, "DomainEvent", "the hypervisor registry");
    static constexpr auto kProperties = std::make_tuple(
        mirrored("Id", &CachedDomain::id), mirrored("State", &CachedDomain::state),
        mirrored("StateReason", &CachedDomain::reason),
        mirrored("Persistent", &CachedDomain::persistent),
        mirrored("Autostart", &CachedDomain::autostart),
        mirrored("HasManagedSave", &CachedDomain::hasManagedSave),
        mirrored("Vcpus", &CachedDomain::vcpus), mirrored("MemoryKiB", &CachedDomain::memoryKiB),
        mirrored("CurrentVcpus", &CachedDomain::currentVcpus),
        mirrored("CurrentMemoryKiB", &CachedDomain::currentMemoryKiB));

    using Remote = RemoteDomain;
    // virDomainXMLFlags: VIR_DOMAIN_XML_INACTIVE 2, VIR_DOMAIN_XML_SECURE 1
    static constexpr ObjectWire kWire =
        ObjectWire("domain", Code::NoSuchDomain, "domain", proto::kDomainListMax, 2, 1,
                   actions::kDomainReadSecureAction);
    static constexpr ObjectFamily kFamily = ObjectFamily(
        "Domain", "Domains", proto::DomainLookupByName, proto::DomainLookupByUuid,
        proto::ConnectListAllDomains, proto::ConnectNumOfDomains, proto::ConnectNumOfDefinedDomains,
        proto::ConnectListDomains, proto::ConnectListDefinedDomains, proto::DomainIsActive,
        proto::DomainIsPersistent, proto::DomainGetAutostart, proto::DomainSetAutostart,
        proto::DomainGetXmlDesc);

    static bool isActive(const CachedDomain& d) { return d.active(); }
    static Remote remote(const CachedDomain& d);
    static Remote read(xdr::Reader& r) { return readDomain(r); }
    static void write(xdr::Writer& w, const Remote& d) { writeDomain(w, d); }
    static bool matches(const CachedDomain& d, uint32_t flags);
    // CONNECT_LIST_DOMAINS lists running domains by id, CONNECT_LIST_DEFINED_DOMAINS the
    // others by name.
    static void writeListed(xdr::Writer& w, const CachedDomain& d, bool inactive) {
        if (inactive) {
            w.string(d.name);
        } else {
            w.i32(d.id);
        }
    }
};

// Manager.DomainEvent (virDomainEventType and its detail).
using DomainEventSignal = KindEvent<DomainKind>;

class DomainCache : public ObjectCache<DomainKind> {
public:
    inline static const std::string kDomainInterface = DomainKind::kBus.interface;

    const CachedDomain* byId(int32_t id) const;
};

RemoteDomain remoteDomain(const CachedDomain& domain);

// The filter flags of CONNECT_LIST_ALL_DOMAINS (and GET_ALL_DOMAIN_STATS) applied to one
// domain.
bool matchesListFlags(const CachedDomain& domain, uint32_t flags);

inline RemoteDomain DomainKind::remote(const CachedDomain& d) {
    return remoteDomain(d);
}
inline bool DomainKind::matches(const CachedDomain& d, uint32_t flags) {
    return matchesListFlags(d, flags);
}

} // namespace virtswarm::bridge
