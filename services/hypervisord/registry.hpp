// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "autostarter.hpp"
#include "domain_store.hpp"
#include "shim_supervisor.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace virtswarm::hypervisor {

class DomainObject;

inline constexpr service::ObjectKind kDomainKind{"domain", names::kDomainPathPrefix,
                                                 Code::DomainExists, Code::NoSuchDomain};

struct RegistryConfig {
    BusMode mode = BusMode::System;
    DaemonPaths paths;
    std::string shimPath;
    // How long Start waits for the shim to report the domain running.
    std::chrono::milliseconds startTimeout{60000};
    // How long any call to a shim may take before it fails with Timeout.
    std::chrono::milliseconds shimCallTimeout{5000};
    // How many autostart domains start at once when the registry comes up.
    unsigned autostartParallel = 4;
    // How long an autostart domain waits for its virtual networks to become active.
    std::chrono::milliseconds autostartNetworkWait{60000};
};

// The hypervisor registry's model: every domain, name/UUID uniqueness, runtime ids, and
// the services domain objects need (store, shims, polkit). Answers all bulk queries from
// its own state; never waits on a shim.
class Registry {
public:
    // `connection` serves the registry's objects and its polkit checks; `shimConnection`
    // carries everything to and from the shims, so that no caller can exhaust the pending
    // replies the registry's calls to shims need.
    Registry(sdbus::IConnection& connection, sdbus::IConnection& shimConnection, EventLoop& loop,
             RegistryConfig config);
    ~Registry();

    // Loads definitions, subscribes to shims, re-adopts running shims, then starts
    // autostart domains. `ready` runs when the picture is complete.
    Result<void> start(std::function<void()> ready);

    // Defines or updates a persistent domain (persistent=true), or adds a transient one.
    Result<DomainObject*> define(DomainXml domain, bool persistent);
    // Removes a domain object (after undefine of an inactive domain, or a transient one
    // shutting off).
    // Takes the domain out of every index at once, so the very next call no longer finds
    // it, and destroys the object (InterfacesRemoved) on the next turn of the loop: it
    // may be removing itself from inside its own call stack.
    void remove(DomainObject& domain);

    // The other domain that makes `def` a duplicate, if any: same name with another UUID,
    // or same UUID with another name (libvirt's rules; a rename goes through its own API),
    // among the domains and the definitions still on their way to the disk.
    std::optional<Error> conflictFor(const DomainDef& def) const;
    // Whether another domain, defined or on its way to the disk, has `name` (Rename).
    bool nameTaken(const std::string& name, const UuidBytes& uuid) const;
    // A domain's name changed (Rename): the name index follows.
    void renamed(const UuidBytes& uuid, const std::string& name) { m_domains.rename(uuid, name); }
    // A definition on its way to the disk holds its name and UUID until it is defined or
    // has failed (release), so that no concurrent define can claim either meanwhile.
    void reserve(const DomainDef& def);
    void release(const DomainDef& def);

    DomainObject* findByName(const std::string& name) const { return m_domains.findByName(name); }
    DomainObject* findByUuid(const UuidBytes& uuid) const { return m_domains.findByUuid(uuid); }
    DomainObject* findByUuidHex(const std::string& uuidHex) const {
        return m_domains.findByKey(uuidHex);
    }
    std::vector<DomainObject*> all() const { return m_domains.all(); }
    const service::ObjectRegistry<DomainObject>& domains() const { return m_domains; }

    // Runtime ids, as libvirt's: unique while the registry runs and kept across its
    // restarts, because each is recorded in the domain's runtime dir.
    int assignId(const std::string& uuidHex);
    // The id recorded for a running domain being adopted (a new one if there is none).
    int recoverId(const std::string& uuidHex);
    void emitLifecycle(const DomainObject& domain, LifecycleEvent event);
    void setEventEmitter(std::function<void(const DomainObject&, LifecycleEvent)> emitter) {
        m_emitEvent = std::move(emitter);
    }
    // A running domain's reboot or device removal, as its shim told it.
    using NoticeEmitter = std::function<void(const DomainObject&, const ShimSupervisor::Notice&)>;
    void setNoticeEmitter(NoticeEmitter emitter) { m_emitNotice = std::move(emitter); }
    // A notice of the registry's own (MetadataChanged).
    void emitNotice(const DomainObject& domain, const ShimSupervisor::Notice& notice) {
        if (m_emitNotice) {
            m_emitNotice(domain, notice);
        }
    }

    sdbus::IConnection& connection() { return m_connection; }
    EventLoop& loop() { return m_loop; }
    Authority& authority() { return m_authority; }
    DomainStore& store() { return m_store; }
    ShimSupervisor& shims() { return m_shims; }
    const RegistryConfig& config() const { return m_config; }

    static std::string objectPathFor(const UuidBytes& uuid) {
        return service::objectPath(kDomainKind.pathPrefix, uuid);
    }

private:
    void adoptRunningShim(ShimSupervisor::FoundShim found);
    void recoverOrphanedQemus();
    uid_t runtimeDefiner(const std::string& uuidHex) const;
    std::optional<int> recordedId(const std::string& uuidHex) const;
    // No id recorded for a domain still running may be handed out again.
    void reserveRecordedIds();

    sdbus::IConnection& m_connection;
    EventLoop& m_loop;
    RegistryConfig m_config;
    Authority m_authority;
    DomainStore m_store;
    ShimSupervisor m_shims;
    Autostarter m_autostarter;
    // Names never change for a given UUID (a define with another name is DomainExists),
    // so the name index is kept on define and remove only. Built in the constructor:
    // DomainObject is incomplete here.
    service::ObjectRegistry<DomainObject> m_domains;
    struct Reservation {
        std::string other; // the UUID (hex) of a reserved name, the name of a reserved UUID
        int count = 0;     // definitions in flight with this name and UUID
    };
    std::unordered_map<std::string, Reservation> m_reservedNames;
    std::unordered_map<std::string, Reservation> m_reservedUuids; // by uuid hex
    std::vector<std::unique_ptr<DomainObject>> m_removed;         // destroyed on the next loop turn
    std::function<void(const DomainObject&, LifecycleEvent)> m_emitEvent;
    NoticeEmitter m_emitNotice;
    int m_nextId = 1;
};

} // namespace virtswarm::hypervisor
