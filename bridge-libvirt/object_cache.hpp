// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <sdbus-c++/Types.h>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

// The bridge's copies of a swarm service's objects (the registry's domains, networkd's
// networks), indexed by object path, name and UUID, fed by the service's ObjectManager and
// PropertiesChanged (service_client.hpp). Lookups and lists are answered from them without
// a D-Bus round trip, as the services themselves answer bulk queries from their own state.
//
// An object kind is described, not coded: a struct `Kind` names its `Object` (a
// CachedObject with the fields it mirrors) and lists `kProperties`, the D-Bus properties
// copied into those fields (mirrored("Active", &CachedNetwork::active), ...). Name and UUID
// are every kind's and need no entry.
namespace virtswarm::bridge {

using PropertyMap = std::map<std::string, sdbus::Variant>;

// Copies one property into `out` if present with the expected type. A value of another type
// is a service bug; keeping the old value beats throwing.
template <typename T> void takeProperty(const PropertyMap& props, const char* key, T& out) {
    auto it = props.find(key);
    if (it != props.end() && it->second.containsValueOfType<T>()) {
        out = it->second.get<T>();
    }
}

// libvirt's list filters come in pairs of flags (active/inactive, persistent/transient,
// ...): none of the pair set means "either".
constexpr bool matchesFlagPair(uint32_t flags, uint32_t yes, uint32_t no, bool value) {
    bool wantYes = (flags & yes) != 0, wantNo = (flags & no) != 0;
    return (!wantYes && !wantNo) || (wantYes && value) || (wantNo && !value);
}

// Where a kind's objects live on the bus: the service's name, its root (Manager and
// ObjectManager), the Manager's interface, the objects' interface, the Manager's lifecycle
// signal for them, and the service as messages name it.
struct ObjectBus {
    const char* busName;
    const char* rootPath;
    const char* managerInterface;
    const char* interface;
    const char* eventSignal; // nullptr: the kind has none
    const char* description;
};

// Whether objects of `Kind` carry a UUID. A kind without one (storage volumes, known by
// their pool, name and key) says `static constexpr bool kHasUuid = false`.
template <typename Kind> constexpr bool hasUuid() {
    if constexpr (requires { Kind::kHasUuid; }) {
        return Kind::kHasUuid;
    } else {
        return true;
    }
}

// What every cached object has: its path on the bus, its name and its UUID (zero for kinds
// without one).
struct CachedObject {
    std::string path;
    std::string name;
    UuidBytes uuid{};
};

// A Manager's lifecycle signal (DomainEvent, NetworkEvent): the object, its name and
// UUID, and libvirt's event and detail numbers for it.
struct LifecycleSignal {
    std::string path;
    std::string name;
    UuidBytes uuid{};
    int32_t event = 0;
    int32_t detail = 0;
};

// The lifecycle signal of one kind (DomainEventSignal, NetworkEventSignal): a type of its
// own, so that a handler can take each kind's signal apart.
template <typename Kind> struct KindEvent : LifecycleSignal {};

// One mirrored property: the D-Bus name and the field it is copied to.
template <typename Object, typename T> struct Mirrored {
    const char* key;
    T Object::*field;
};

template <typename Object, typename T>
constexpr Mirrored<Object, T> mirrored(const char* key, T Object::*field) {
    return {key, field};
}

// Copies the properties `Kind` mirrors, those present with the expected type, into `object`.
template <typename Kind>
void applyProperties(const PropertyMap& props, typename Kind::Object& object) {
    takeProperty(props, "Name", object.name);
    std::apply([&](const auto&... m) { (takeProperty(props, m.key, object.*(m.field)), ...); },
               Kind::kProperties);
}

// What a ServiceClient feeds: one interface's properties of every object of the service.
class ObjectMirror {
public:
    virtual ~ObjectMirror() = default;
    // All properties (InterfacesAdded, GetManagedObjects) or the changed ones
    // (PropertiesChanged).
    virtual void update(const std::string& path, const PropertyMap& properties) = 0;
    virtual void remove(const std::string& path) = 0;
    virtual void clear() = 0;
    virtual bool contains(const std::string& path) const = 0;
    virtual size_t size() const = 0;
};

// The objects of one kind, by path, name and UUID.
template <typename Kind> class ObjectCache : public ObjectMirror {
public:
    using T = typename Kind::Object;

    // A new path is added only once it carries a UUID, the one property that never changes
    // (or, for a kind without UUIDs, its name).
    void update(const std::string& path, const PropertyMap& properties) override {
        auto it = m_byPath.find(path);
        if (it == m_byPath.end()) {
            auto identity = properties.find(hasUuid<Kind>() ? "UUID" : "Name");
            if (identity == properties.end() ||
                !identity->second.template containsValueOfType<std::string>()) {
                return;
            }
            T fresh;
            fresh.path = path;
            if constexpr (hasUuid<Kind>()) {
                auto uuid = parseUuid(identity->second.template get<std::string>());
                if (!uuid) {
                    return;
                }
                fresh.uuid = uuid.value();
                m_pathByUuid[fresh.uuid] = path;
            }
            it = m_byPath.emplace(path, std::move(fresh)).first;
        }
        T& object = it->second;
        std::string oldName = object.name;
        applyProperties<Kind>(properties, object);
        if (object.name != oldName) {
            if (auto n = m_pathByName.find(oldName); n != m_pathByName.end() && n->second == path) {
                m_pathByName.erase(n);
            }
            m_pathByName[object.name] = path;
        }
    }

    void remove(const std::string& path) override {
        auto it = m_byPath.find(path);
        if (it == m_byPath.end()) {
            return;
        }
        if (auto n = m_pathByName.find(it->second.name);
            n != m_pathByName.end() && n->second == path) {
            m_pathByName.erase(n);
        }
        if (auto u = m_pathByUuid.find(it->second.uuid);
            u != m_pathByUuid.end() && u->second == path) {
            m_pathByUuid.erase(u);
        }
        m_byPath.erase(it);
    }

    void clear() override {
        m_byPath.clear();
        m_pathByName.clear();
        m_pathByUuid.clear();
    }

    bool contains(const std::string& path) const override { return m_byPath.count(path) > 0; }
    size_t size() const override { return m_byPath.size(); }

    const T* byPath(const std::string& path) const {
        auto it = m_byPath.find(path);
        return it == m_byPath.end() ? nullptr : &it->second;
    }
    const T* byName(const std::string& name) const {
        auto it = m_pathByName.find(name);
        return it == m_pathByName.end() ? nullptr : byPath(it->second);
    }
    const T* byUuid(const UuidBytes& uuid) const {
        auto it = m_pathByUuid.find(uuid);
        return it == m_pathByUuid.end() ? nullptr : byPath(it->second);
    }
    // In a stable order (by name), as libvirt lists.
    std::vector<const T*> all() const {
        std::vector<const T*> out;
        out.reserve(m_byPath.size());
        for (const auto& [path, object] : m_byPath) {
            out.push_back(&object);
        }
        std::sort(out.begin(), out.end(), [](const T* a, const T* b) { return a->name < b->name; });
        return out;
    }

protected:
    const std::unordered_map<std::string, T>& objects() const { return m_byPath; }

private:
    std::unordered_map<std::string, T> m_byPath;
    std::unordered_map<std::string, std::string> m_pathByName;
    std::map<UuidBytes, std::string> m_pathByUuid;
};

} // namespace virtswarm::bridge
