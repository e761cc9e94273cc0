// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/definition_store.hpp"
#include "virtswarm/error.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace virtswarm::service {

// What names one kind of object (a network, a storage pool, a domain) in paths, messages
// and errors.
struct ObjectKind {
    const char* noun;       // "network": in messages, and polkit details <noun>_name/_uuid
    const char* pathPrefix; // names::kNetworkPathPrefix; ends in '_'
    Code exists;            // a name or UUID already taken
    Code missing;           // no such object
};

// The object path of the object with `uuid`: the kind's prefix and 32 hex digits.
std::string objectPath(const char* pathPrefix, const UuidBytes& uuid);

// The one form of a UUID in runtime directories (<runtime dir>/<key>..., shim dirs, bus
// names): 32 lower-case hex digits, as in object paths. Definition directories keep
// libvirt's dashed form (DefinitionStore), which admins read and copy.
std::string runtimeKey(const UuidBytes& uuid);

// What the registry needs of the objects it holds: the ObjectManager signals, which it
// sends when an object joins or leaves (sdbus::ManagedObject_adaptor provides both).
template <typename T>
concept ManagedObject = requires(T& object) {
    object.emitInterfacesAddedSignal();
    object.emitInterfacesRemovedSignal();
};

// InterfacesRemoved for an object leaving the bus. The bus or the object manager may
// already be gone when the daemon exits: removal must not throw.
template <ManagedObject T> void announceRemoval(T& object) {
    try {
        object.emitInterfacesRemovedSignal();
    } catch (const std::exception& e) {
        log::debug(std::string("InterfacesRemoved not sent: ") + e.what());
    }
}

// Every object of one kind a daemon serves, keyed by UUID with a name index (both O(1)).
// The registry owns the objects: an object is on the bus exactly while it is in here, and
// clients see it come and go through InterfacesAdded/InterfacesRemoved.
// T may be incomplete where the registry is declared (a daemon's registry header); the
// concept is checked where objects are added.
template <typename T> class ObjectRegistry {
public:
    using Done = std::function<void(Result<void>)>;

    explicit ObjectRegistry(ObjectKind kind)
        : m_kind(kind) {}
    ObjectRegistry(const ObjectRegistry&) = delete;
    ObjectRegistry& operator=(const ObjectRegistry&) = delete;
    ~ObjectRegistry() { clear(); }

    const ObjectKind& kind() const { return m_kind; }
    std::string pathFor(const UuidBytes& uuid) const { return objectPath(m_kind.pathPrefix, uuid); }

    // Adds the object `make(objectPath)` builds, unless the UUID or the name is taken (then
    // `make` is not called: an adaptor must not be registered twice on one path).
    template <typename Make>
    Result<T*> add(const UuidBytes& uuid, const std::string& name, Make&& make) {
        return addKeyed(uuidHex(uuid), name, pathFor(uuid), std::forward<Make>(make));
    }

    // Kinds whose objects have no UUID, only a name the host gives them (node devices,
    // discovered rather than defined): keyed by the name, at <pathPrefix><name>. The name
    // must already be a valid object path element ([A-Za-z0-9_]).
    template <typename Make> Result<T*> addNamed(const std::string& name, Make&& make) {
        return addKeyed(name, name, std::string(m_kind.pathPrefix) + name,
                        std::forward<Make>(make));
    }
    void removeNamed(const std::string& name) { removeKeyed(name); }

    // The object's name changed (a redefinition): the name index follows.
    void rename(const UuidBytes& uuid, const std::string& name) {
        auto it = m_byUuid.find(asView(uuidHexChars(uuid)));
        if (it == m_byUuid.end() || it->second.name == name) {
            return;
        }
        m_byName.erase(it->second.name);
        it->second.name = name;
        m_byName[name] = it->second.object.get();
    }

    // Takes the object off the bus and destroys it. Not from inside the object's own
    // method: use take() there.
    void remove(const UuidBytes& uuid) { take(uuid); }

    // Takes the object out of both indexes at once (the very next lookup no longer finds
    // it) and announces InterfacesRemoved, but leaves it to the caller to destroy: an
    // object removing itself from inside its own call stack is destroyed on the next
    // loop turn instead. Null if there is no such object.
    std::unique_ptr<T> take(const UuidBytes& uuid) { return takeKeyed(uuidHex(uuid)); }

    T* findByUuid(const UuidBytes& uuid) const { return findByKey(asView(uuidHexChars(uuid))); }
    // By runtimeKey(uuid), as runtime directories and shim bus names spell it.
    T* findByKey(std::string_view key) const {
        auto it = m_byUuid.find(key);
        return it == m_byUuid.end() ? nullptr : it->second.object.get();
    }
    T* findByName(std::string_view name) const {
        auto it = m_byName.find(name);
        return it == m_byName.end() ? nullptr : it->second;
    }
    // The same with the kind's "no such object" error, as Lookup methods answer.
    Result<T*> lookupByName(const std::string& name) const {
        if (T* object = findByName(name)) {
            return object;
        }
        return Error(m_kind.missing,
                     "no " + std::string(m_kind.noun) + " with matching name '" + name + "'");
    }
    Result<T*> lookupByUuid(const std::string& text) const {
        auto uuid = parseUuid(text);
        if (!uuid) {
            return uuid.takeError();
        }
        if (T* object = findByUuid(uuid.value())) {
            return object;
        }
        return Error(m_kind.missing,
                     "no " + std::string(m_kind.noun) + " with matching uuid '" + text + "'");
    }

    // Every object, in key order (UUID, or name for named kinds: a stable order for lists).
    std::vector<T*> all() const {
        std::vector<T*> out;
        for (const Entry* entry : sortedEntries()) {
            out.push_back(entry->object.get());
        }
        return out;
    }
    size_t size() const { return m_byUuid.size(); }

    // Startup: every definition in `store`, added by `add` (which makes the object and
    // sets its autostart flag). A definition that cannot be added is logged and skipped:
    // one bad file must not keep the daemon from serving the others.
    template <typename Def>
    void loadDefinitions(DefinitionStore& store,
                         const std::function<Result<Def>(const std::string&)>& parse,
                         const std::function<UuidBytes(const Def&)>& uuidOf,
                         const std::function<Result<T*>(Def, bool autostart)>& add) {
        addLoaded<Def>(store.loadAll<Def>(parse, uuidOf), add);
    }
    // The same for definitions a daemon's own store loaded (hypervisord's carry their
    // definers).
    // Loaded objects are not announced one by one: every daemon loads before it takes its
    // name, so no client follows the signals yet (a match on the well-known name does not
    // match a sender that owns none), and whoever comes later asks GetManagedObjects. At
    // 10,000 domains the signals were a fifth of the registry's start-up.
    template <typename Def>
    void addLoaded(std::vector<DefinitionStore::Loaded<Def>> definitions,
                   const std::function<Result<T*>(Def, bool autostart)>& add) {
        m_announce = false;
        struct AnnounceAgain {
            bool& announce;
            ~AnnounceAgain() { announce = true; }
        } announceAgain{m_announce};
        for (auto& loaded : definitions) {
            auto added = add(std::move(loaded.definition), loaded.autostart);
            if (!added) {
                log::error("cannot load " + std::string(m_kind.noun) + ": " +
                           added.error().message());
            }
        }
        log::info("loaded " + std::to_string(size()) + " " + m_kind.noun + " definitions");
    }

    // Startup, once the daemon's state is complete: starts each object `wanted` selects
    // (autostart set and not running), logging failures; the daemon does not wait for them.
    void autostart(const std::function<bool(const T&)>& wanted,
                   const std::function<void(T&, Done)>& start) {
        for (const Entry* entry : sortedEntries()) {
            T& object = *entry->object;
            if (!wanted(object)) {
                continue;
            }
            start(object, [noun = std::string(m_kind.noun), name = entry->name](Result<void> r) {
                if (!r) {
                    log::error("autostart of " + noun + " '" + name + "': " + r.error().message());
                }
            });
        }
    }

    // Removes every object (the daemon is exiting).
    void clear() {
        while (!m_byUuid.empty()) {
            auto it = m_byUuid.begin();
            std::unique_ptr<T> object = std::move(it->second.object);
            m_byName.erase(it->second.name);
            m_byUuid.erase(it);
            announceRemoval(*object);
        }
    }

private:
    // `key`: what identifies the object for good (its UUID in hex, or its name for kinds
    // without UUIDs).
    template <typename Make>
    Result<T*> addKeyed(std::string key, const std::string& name, const std::string& path,
                        Make&& make) {
        static_assert(ManagedObject<T>, "objects must send the ObjectManager signals");
        if (m_byUuid.count(key) > 0 || m_byName.count(name) > 0) {
            return Error(m_kind.exists,
                         std::string(m_kind.noun) + " '" + name + "' already exists");
        }
        std::unique_ptr<T> object = std::forward<Make>(make)(path);
        T* raw = object.get();
        m_byUuid.emplace(std::move(key), Entry{std::move(object), name});
        m_byName.emplace(name, raw);
        if (m_announce) {
            raw->emitInterfacesAddedSignal();
        }
        return raw;
    }

    void removeKeyed(const std::string& key) { takeKeyed(key); }

    std::unique_ptr<T> takeKeyed(const std::string& key) {
        auto it = m_byUuid.find(key);
        if (it == m_byUuid.end()) {
            return nullptr;
        }
        std::unique_ptr<T> object = std::move(it->second.object);
        m_byName.erase(it->second.name);
        m_byUuid.erase(it);
        announceRemoval(*object);
        return object;
    }

    struct Entry {
        std::unique_ptr<T> object;
        std::string name;
    };

    std::vector<const Entry*> sortedEntries() const {
        std::vector<std::pair<const std::string*, const Entry*>> keyed;
        keyed.reserve(m_byUuid.size());
        for (const auto& [key, entry] : m_byUuid) {
            keyed.emplace_back(&key, &entry);
        }
        std::sort(keyed.begin(), keyed.end(),
                  [](const auto& a, const auto& b) { return *a.first < *b.first; });
        std::vector<const Entry*> out;
        out.reserve(keyed.size());
        for (const auto& [key, entry] : keyed) {
            out.push_back(entry);
        }
        return out;
    }

    // Lookups by a string_view or a UUID's digits on the stack: no key string is made.
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    };
    template <typename V>
    using KeyedBy = std::unordered_map<std::string, V, KeyHash, std::equal_to<>>;

    ObjectKind m_kind;
    bool m_announce = true;  // InterfacesAdded for each new object (not while loading)
    KeyedBy<Entry> m_byUuid; // key (uuidHex, or the name) -> object
    KeyedBy<T*> m_byName;
};

} // namespace virtswarm::service
