// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/uuid.hpp"

#include <cstdint>
#include <map>
#include <sdbus-c++/Types.h>
#include <string>
#include <unordered_map>
#include <vector>

// The bridge's copy of the registry's domains, fed by the ObjectManager
// (GetManagedObjects, InterfacesAdded/Removed) and PropertiesChanged. Lookups, lists,
// dominfo and domstate are answered from it without a D-Bus round trip, as the registry
// itself answers bulk queries from its own state.
namespace virtswarm::bridge {

using PropertyMap = std::map<std::string, sdbus::Variant>;

struct CachedDomain {
    std::string path;
    std::string name;
    UuidBytes uuid{};
    int32_t id = -1;
    std::string state = "shutoff";
    std::string reason = "unknown";
    bool persistent = false;
    bool autostart = false;
    uint32_t vcpus = 0;
    uint64_t memoryKiB = 0;

    bool active() const { return state != "shutoff"; }
};

class DomainCache {
public:
    inline static const std::string kDomainInterface = "org.virtswarm.Hypervisor1.Domain";

    // Applies the Domain interface's properties (all of them from InterfacesAdded or
    // GetManagedObjects, or the changed ones from PropertiesChanged). A new path is added
    // only once it carries a UUID, the one property that never changes.
    void update(const std::string& path, const PropertyMap& properties);
    void remove(const std::string& path);
    void clear();

    const CachedDomain* byPath(const std::string& path) const;
    const CachedDomain* byName(const std::string& name) const;
    const CachedDomain* byUuid(const UuidBytes& uuid) const;
    const CachedDomain* byId(int32_t id) const;
    // In a stable order (by name), as libvirt lists.
    std::vector<const CachedDomain*> all() const;
    size_t size() const { return m_byPath.size(); }

private:
    std::unordered_map<std::string, CachedDomain> m_byPath;
    std::unordered_map<std::string, std::string> m_pathByName;
    std::map<UuidBytes, std::string> m_pathByUuid;
};

} // namespace virtswarm::bridge
