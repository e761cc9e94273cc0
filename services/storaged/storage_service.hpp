// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "job.hpp"
#include "virtswarm/definition_store.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/object_registry.hpp"
#include "virtswarm/storage_def.hpp"
#include "volume_holders.hpp"

#include <functional>
#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>

namespace virtswarm::storage {

class PoolObject;
class JobObject;
class VolumeObject;

// libvirt's virStoragePoolEventLifecycleType.
enum class PoolEvent { Defined = 0, Undefined = 1, Started = 2, Stopped = 3 };

// Everything storaged serves: its pools (persistent ones in <config>/storage, running ones
// recorded in <runtime>/storage/active so a restarted daemon takes them up again), the
// jobs in progress, and what the objects share (bus, loop, polkit).
class StorageService {
public:
    StorageService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode,
                   const DaemonPaths& paths);
    ~StorageService();
    StorageService(const StorageService&) = delete;
    StorageService& operator=(const StorageService&) = delete;

    sdbus::IConnection& bus() { return m_bus; }
    EventLoop& loop() { return m_loop; }
    Authority& authority() { return m_authority; }
    service::ObjectRegistry<PoolObject>& pools() { return m_pools; }
    // Volumes handed out to VMs (OpenVolume), recorded in <runtime>/holders.
    VolumeHolders& holders() { return m_holders; }

    // Loads the definitions, makes the `default` pool on the first start, and starts the
    // pools that were running (or are marked autostart); `ready` once all have answered.
    void start(std::function<void()> ready);

    // DefineXML: a new persistent pool, or the new definition of an inactive one (same
    // name and UUID). Errors: PoolExists, InvalidState (changing an active pool).
    Result<PoolObject*> define(PoolXml definition);
    // CreateXML: a transient pool, started (built first when asked).
    void create(PoolXml definition, bool build, std::function<void(Result<PoolObject*>)> done);
    Result<void> undefine(PoolObject& pool);
    // Bookkeeping of running pools across restarts, and autostart.
    void poolStarted(PoolObject& pool);
    void poolStopped(PoolObject& pool);
    Result<void> setAutostart(PoolObject& pool, bool autostart);

    // A job on the bus until shortly after it completes.
    sdbus::ObjectPath publishJob(std::shared_ptr<Job> job, PolkitDetails details);
    VolumeObject* volumeByPath(const std::string& path) const;
    VolumeObject* volumeByObjectPath(const std::string& path) const;

    // The Manager's PoolEvent signal (set by the manager object).
    std::function<void(PoolObject&, PoolEvent)> onPoolEvent;
    // A pool's Refresh completed (Manager.PoolRefreshed).
    std::function<void(PoolObject&)> onPoolRefreshed;
    void emitEvent(PoolObject& pool, PoolEvent event);

private:
    Result<PoolObject*> add(PoolXml definition, bool persistent);
    void startRecorded(std::vector<PoolObject*> pending, std::function<void()> ready);
    // Holds end when their holder's bus name vanishes: NameOwnerChanged from the bus
    // driver (and only from it), and, for holds recorded by an earlier storaged, a
    // NameHasOwner check of each holder at start.
    void watchHolders();
    void onNameOwnerChanged(sdbus::Message& message);

    sdbus::IConnection& m_bus;
    EventLoop& m_loop;
    BusMode m_mode;
    DaemonPaths m_paths;
    Authority m_authority;
    DefinitionStore m_definitions;
    DefinitionStore m_running; // <runtime>/active: what was running, for a restart
    service::ObjectRegistry<PoolObject> m_pools;
    VolumeHolders m_holders;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::vector<sdbus::Slot> m_matches;
    std::map<uint64_t, std::unique_ptr<JobObject>> m_jobs;
    uint64_t m_nextJob = 1;
};

} // namespace virtswarm::storage
