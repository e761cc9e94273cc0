// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_cache.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

template <typename T> void take(const PropertyMap& props, const char* key, T& out) {
    auto it = props.find(key);
    // A value of another type is a registry bug; keeping the old value beats throwing.
    if (it != props.end() && it->second.containsValueOfType<T>()) {
        out = it->second.get<T>();
    }
}

} // namespace

void DomainCache::update(const std::string& path, const PropertyMap& properties) {
    auto it = m_byPath.find(path);
    if (it == m_byPath.end()) {
        auto uuidIt = properties.find("UUID");
        if (uuidIt == properties.end() || !uuidIt->second.containsValueOfType<std::string>()) {
            return;
        }
        auto uuid = parseUuid(uuidIt->second.get<std::string>());
        if (!uuid) {
            return;
        }
        CachedDomain fresh;
        fresh.path = path;
        fresh.uuid = uuid.value();
        m_pathByUuid[fresh.uuid] = path;
        it = m_byPath.emplace(path, std::move(fresh)).first;
    }
    CachedDomain& d = it->second;
    std::string oldName = d.name;
    take(properties, "Name", d.name);
    take(properties, "Id", d.id);
    take(properties, "State", d.state);
    take(properties, "StateReason", d.reason);
    take(properties, "Persistent", d.persistent);
    take(properties, "Autostart", d.autostart);
    take(properties, "Vcpus", d.vcpus);
    take(properties, "MemoryKiB", d.memoryKiB);
    if (d.name != oldName) {
        if (auto n = m_pathByName.find(oldName); n != m_pathByName.end() && n->second == path) {
            m_pathByName.erase(n);
        }
        m_pathByName[d.name] = path;
    }
}

void DomainCache::remove(const std::string& path) {
    auto it = m_byPath.find(path);
    if (it == m_byPath.end()) {
        return;
    }
    if (auto n = m_pathByName.find(it->second.name); n != m_pathByName.end() && n->second == path) {
        m_pathByName.erase(n);
    }
    if (auto u = m_pathByUuid.find(it->second.uuid); u != m_pathByUuid.end() && u->second == path) {
        m_pathByUuid.erase(u);
    }
    m_byPath.erase(it);
}

void DomainCache::clear() {
    m_byPath.clear();
    m_pathByName.clear();
    m_pathByUuid.clear();
}

const CachedDomain* DomainCache::byPath(const std::string& path) const {
    auto it = m_byPath.find(path);
    return it == m_byPath.end() ? nullptr : &it->second;
}

const CachedDomain* DomainCache::byName(const std::string& name) const {
    auto it = m_pathByName.find(name);
    return it == m_pathByName.end() ? nullptr : byPath(it->second);
}

const CachedDomain* DomainCache::byUuid(const UuidBytes& uuid) const {
    auto it = m_pathByUuid.find(uuid);
    return it == m_pathByUuid.end() ? nullptr : byPath(it->second);
}

const CachedDomain* DomainCache::byId(int32_t id) const {
    if (id < 0) {
        return nullptr;
    }
    for (const auto& [path, d] : m_byPath) {
        if (d.active() && d.id == id) {
            return &d;
        }
    }
    return nullptr;
}

std::vector<const CachedDomain*> DomainCache::all() const {
    std::vector<const CachedDomain*> out;
    out.reserve(m_byPath.size());
    for (const auto& [path, d] : m_byPath) {
        out.push_back(&d);
    }
    std::sort(out.begin(), out.end(),
              [](const CachedDomain* a, const CachedDomain* b) { return a->name < b->name; });
    return out;
}

} // namespace virtswarm::bridge
