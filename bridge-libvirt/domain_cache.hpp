// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "virtswarm/domain_state.hpp"

#include <cstdint>
#include <string>

// The bridge's copy of the registry's domains (org.virtswarm.Hypervisor1.Domain objects).
// Lookups, lists, dominfo and domstate are answered from it without a D-Bus round trip.
namespace virtswarm::bridge {

struct CachedDomain {
    std::string path;
    std::string name;
    UuidBytes uuid{};
    int32_t id = -1;
    std::string state{toString(DomainState::Shutoff)};
    std::string reason{toString(DomainReason::Unknown)};
    bool persistent = false;
    bool autostart = false;
    bool hasManagedSave = false;
    uint32_t vcpus = 0;
    uint64_t memoryKiB = 0;

    bool active() const { return parseDomainState(state) != DomainState::Shutoff; }
    void apply(const PropertyMap& properties);
};

class DomainCache : public ObjectCache<CachedDomain> {
public:
    inline static const std::string kDomainInterface = "org.virtswarm.Hypervisor1.Domain";

    const CachedDomain* byId(int32_t id) const;
};

} // namespace virtswarm::bridge
