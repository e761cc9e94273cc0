// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_cache.hpp"

namespace virtswarm::bridge {

void CachedDomain::apply(const PropertyMap& properties) {
    takeProperty(properties, "Name", name);
    takeProperty(properties, "Id", id);
    takeProperty(properties, "State", state);
    takeProperty(properties, "StateReason", reason);
    takeProperty(properties, "Persistent", persistent);
    takeProperty(properties, "Autostart", autostart);
    takeProperty(properties, "HasManagedSave", hasManagedSave);
    takeProperty(properties, "Vcpus", vcpus);
    takeProperty(properties, "MemoryKiB", memoryKiB);
}

const CachedDomain* DomainCache::byId(int32_t id) const {
    if (id < 0) {
        return nullptr;
    }
    for (const auto& [path, d] : objects()) {
        if (d.active() && d.id == id) {
            return &d;
        }
    }
    return nullptr;
}

} // namespace virtswarm::bridge
