// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage_service.hpp"

#include "job_object.hpp"
#include "pool_object.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "volume_object.hpp"

#include <filesystem>

namespace virtswarm::storage {
namespace {

constexpr service::ObjectKind kPoolKind{"storage pool", names::kStoragePoolPathPrefix,
                                        Code::PoolExists, Code::NoSuchPool};
// A finished job stays on the bus this long, so a client that looks after Completed
// still finds its last state.
constexpr auto kJobLinger = std::chrono::seconds(5);
// Made once: an administrator who undefines `default` does not get it back.
constexpr const char* kDefaultMarker = "/default-pool-created";
constexpr const char* kBusDriver = "org.freedesktop.DBus";
// Bound on the NameHasOwner checks a restart makes (one per recorded holder).
constexpr auto kDriverTimeout = std::chrono::seconds(10);

std::string parentDir(const std::string& path) {
    return std::filesystem::path(path).parent_path().string();
}

} // namespace

StorageService::StorageService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode,
                               const DaemonPaths& paths)
    : m_bus(bus)
    , m_loop(loop)
    , m_mode(mode)
    , m_paths(paths)
    , m_authority(bus, mode)
    , m_definitions(paths.configDir)
    , m_running(paths.runtimeDir + "/active")
    , m_pools(kPoolKind)
    , m_holders(paths.runtimeDir + "/holders")
    , m_busDriver(sdbus::createProxy(bus, kBusDriver, "/org/freedesktop/DBus")) {}

StorageService::~StorageService() {
    m_jobs.clear();
    m_pools.clear();
}

Result<PoolObject*> StorageService::add(PoolXml definition, bool persistent) {
    for (PoolObject* other : m_pools.all()) {
        if (other->def().targetPath == definition.def.targetPath &&
            other->def().uuid != definition.def.uuid) {
            return Error(Code::PoolExists, "storage pool '" + other->def().name +
                                               "' already uses " + definition.def.targetPath);
        }
    }
    UuidBytes uuid = definition.def.uuid;
    std::string name = definition.def.name;
    return m_pools.add(uuid, name, [&](const std::string& path) {
        return std::make_unique<PoolObject>(*this, path, std::move(definition), persistent);
    });
}

void StorageService::emitEvent(PoolObject& pool, PoolEvent event) {
    if (onPoolEvent) {
        onPoolEvent(pool, event);
    }
}

Result<PoolObject*> StorageService::define(PoolXml definition) {
    const PoolDef& def = definition.def;
    PoolObject* sameUuid = m_pools.findByUuid(def.uuid);
    PoolObject* sameName = m_pools.findByName(def.name);
    if (sameName != nullptr && sameName != sameUuid) {
        return Error(Code::PoolExists, "storage pool '" + def.name + "' already exists with uuid " +
                                           formatUuid(sameName->def().uuid));
    }
    if (sameUuid != nullptr && sameUuid->pool().active()) {
        return Error(Code::InvalidState,
                     "storage pool '" + sameUuid->def().name + "' is active: stop it first");
    }
    if (auto r = m_definitions.save(def.uuid, definition.xml); !r) {
        return r.takeError();
    }
    bool autostart = false;
    if (sameUuid != nullptr) {
        autostart = sameUuid->autostart();
        m_pools.remove(def.uuid);
    }
    auto added = add(std::move(definition), true);
    if (!added) {
        (void)m_definitions.remove(def.uuid);
        return added;
    }
    added.value()->setAutostartFlag(autostart);
    emitEvent(*added.value(), PoolEvent::Defined);
    return added;
}

void StorageService::create(PoolXml definition, bool build,
                            std::function<void(Result<PoolObject*>)> done) {
    if (m_pools.findByUuid(definition.def.uuid) != nullptr) {
        done(Error(Code::PoolExists, "storage pool '" + definition.def.name + "' already exists"));
        return;
    }
    auto added = add(std::move(definition), false);
    if (!added) {
        done(added.takeError());
        return;
    }
    PoolObject* pool = added.value();
    UuidBytes uuid = pool->def().uuid;
    auto fail = [this, uuid, done](Error error) {
        m_pools.remove(uuid);
        done(std::move(error));
    };
    auto startIt = [this, pool, uuid, done, fail](Result<void> built) {
        if (!built) {
            fail(built.takeError());
            return;
        }
        pool->start([this, uuid, done, fail](Result<void> started) {
            PoolObject* p = m_pools.findByUuid(uuid);
            if (!started || p == nullptr) {
                fail(started ? Error(Code::NoSuchPool, "storage pool is gone") : started.error());
                return;
            }
            done(p);
        });
    };
    if (build) {
        pool->pool().build(startIt);
    } else {
        startIt(success());
    }
}

Result<void> StorageService::undefine(PoolObject& pool) {
    if (!pool.persistent()) {
        return Error(Code::InvalidState,
                     "storage pool '" + pool.def().name + "' is not persistent");
    }
    UuidBytes uuid = pool.def().uuid;
    if (auto r = m_definitions.remove(uuid); !r) {
        return r;
    }
    emitEvent(pool, PoolEvent::Undefined);
    if (pool.pool().active()) {
        // As libvirt: a running pool stays, transient, until it stops.
        pool.setAutostartFlag(false);
        return success();
    }
    // Not from inside the object's own method.
    m_loop.defer([this, uuid] { m_pools.remove(uuid); });
    return success();
}

void StorageService::poolStarted(PoolObject& pool) {
    if (auto r = m_running.save(pool.def().uuid, pool.pool().xml()); !r) {
        log::warning("cannot record running pool '" + pool.def().name +
                     "': " + r.error().message());
    }
    emitEvent(pool, PoolEvent::Started);
}

void StorageService::poolStopped(PoolObject& pool) {
    UuidBytes uuid = pool.def().uuid;
    (void)m_running.remove(uuid);
    emitEvent(pool, PoolEvent::Stopped);
    if (!pool.persistent() ||
        !std::filesystem::exists(m_definitions.dir() + "/" + formatUuid(uuid) + ".xml")) {
        m_loop.defer([this, uuid] { m_pools.remove(uuid); });
    }
}

Result<void> StorageService::setAutostart(PoolObject& pool, bool autostart) {
    if (!pool.persistent()) {
        return Error(Code::InvalidState,
                     "storage pool '" + pool.def().name + "' is transient: no autostart");
    }
    if (auto r = m_definitions.setAutostart(pool.def().uuid, autostart); !r) {
        return r;
    }
    pool.setAutostartFlag(autostart);
    return success();
}

sdbus::ObjectPath StorageService::publishJob(std::shared_ptr<Job> job, PolkitDetails details) {
    uint64_t id = m_nextJob++;
    std::string path = std::string(names::kStorageJobPathPrefix) + std::to_string(id);
    auto object = std::make_unique<JobObject>(m_bus, m_loop, m_authority, path, std::move(job),
                                              std::move(details));
    object->onFinished = [this, id] {
        auto reaper = std::make_shared<EventSource>();
        *reaper = m_loop.addTimer(kJobLinger, [this, id, reaper] {
            auto it = m_jobs.find(id);
            if (it != m_jobs.end()) {
                it->second->emitInterfacesRemovedSignal();
                m_jobs.erase(it);
            }
            reaper->reset();
        });
    };
    object->emitInterfacesAddedSignal();
    m_jobs.emplace(id, std::move(object));
    return sdbus::ObjectPath(path);
}

VolumeObject* StorageService::volumeByPath(const std::string& path) const {
    for (PoolObject* pool : m_pools.all()) {
        for (const auto& [name, volume] : pool->volumeObjects()) {
            if (volume->info().path == path) {
                return volume.get();
            }
        }
    }
    return nullptr;
}

VolumeObject* StorageService::volumeByObjectPath(const std::string& path) const {
    for (PoolObject* pool : m_pools.all()) {
        if (!path.starts_with(pool->getObjectPath() + "/")) {
            continue;
        }
        for (const auto& [name, volume] : pool->volumeObjects()) {
            if (volume->path() == path) {
                return volume.get();
            }
        }
    }
    return nullptr;
}

void StorageService::watchHolders() {
    try {
        m_matches.push_back(
            m_bus.addMatch(std::string("type='signal',sender='") + kBusDriver +
                               "',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
                           [this](sdbus::Message& m) { onNameOwnerChanged(m); }));
    } catch (const sdbus::Error& e) {
        log::error("cannot watch volume holders: " + e.getMessage());
    }
    m_holders.load();
    for (const auto& holder : m_holders.holders()) {
        try {
            m_busDriver->callMethodAsync("NameHasOwner")
                .onInterface(kBusDriver)
                .withTimeout(kDriverTimeout)
                .withArguments(holder)
                .uponReplyInvoke([this, holder](const sdbus::Error* error, bool hasOwner) {
                    if (error == nullptr && !hasOwner) {
                        size_t n = m_holders.forget(holder);
                        log::info("released " + std::to_string(n) + " volume hold(s) of " + holder +
                                  ", gone while storaged was away");
                    }
                });
        } catch (const sdbus::Error& e) {
            log::warning("cannot check volume holder " + holder + ": " + e.getMessage());
        }
    }
}

void StorageService::onNameOwnerChanged(sdbus::Message& message) {
    // The match names the bus driver, but sd-bus also hands us signals sent straight to
    // our unique name by anyone: only the driver's own word ends a hold.
    if (message.getSender() != kBusDriver) {
        return;
    }
    std::string name, oldOwner, newOwner;
    try {
        message >> name >> oldOwner >> newOwner;
    } catch (const sdbus::Error&) {
        return;
    }
    if (!name.starts_with(":") || !newOwner.empty()) {
        return;
    }
    if (size_t n = m_holders.forget(name); n > 0) {
        log::info("released " + std::to_string(n) + " volume hold(s) of " + name + " (gone)");
    }
}

void StorageService::start(std::function<void()> ready) {
    watchHolders();
    m_pools.loadDefinitions<PoolXml>(
        m_definitions, [](const std::string& text) { return parsePoolXml(text); },
        [](const PoolXml& p) { return p.def.uuid; },
        [this](PoolXml def, bool autostart) -> Result<PoolObject*> {
            auto added = add(std::move(def), true);
            if (added) {
                added.value()->setAutostartFlag(autostart);
            }
            return added;
        });

    std::string defaultPath = parentDir(m_paths.stateDir) + "/images";
    std::string marker = m_paths.configDir + kDefaultMarker;
    std::vector<PoolObject*> pending;
    if (!std::filesystem::exists(marker) && m_pools.findByName("default") == nullptr) {
        auto def = parsePoolXml("<pool type='dir'><name>default</name><target><path>" +
                                defaultPath + "</path></target></pool>");
        auto pool = def ? define(std::move(def).value()) : Result<PoolObject*>(def.takeError());
        if (pool && makeDirectories(defaultPath, 0711) && setAutostart(*pool.value(), true) &&
            writeFileAtomic(marker, "", 0644)) {
            log::info("made the default storage pool at " + defaultPath);
        } else if (!pool) {
            log::error("cannot make the default storage pool: " + pool.error().message());
        }
    }

    // Pools that were running when the last storaged ended: persistent ones by UUID,
    // transient ones from the recorded definition.
    std::vector<UuidBytes> wasRunning;
    for (auto& loaded :
         m_running.loadAll<PoolXml>([](const std::string& text) { return parsePoolXml(text); },
                                    [](const PoolXml& p) { return p.def.uuid; })) {
        UuidBytes uuid = loaded.definition.def.uuid;
        if (m_pools.findByUuid(uuid) == nullptr) {
            auto added = add(std::move(loaded.definition), false);
            if (!added) {
                log::error("cannot take up running pool: " + added.error().message());
                continue;
            }
        }
        wasRunning.push_back(uuid);
    }
    for (PoolObject* pool : m_pools.all()) {
        bool running =
            std::find(wasRunning.begin(), wasRunning.end(), pool->def().uuid) != wasRunning.end();
        if (running || pool->autostart()) {
            pending.push_back(pool);
        }
    }
    startRecorded(std::move(pending), std::move(ready));
}

void StorageService::startRecorded(std::vector<PoolObject*> pending, std::function<void()> ready) {
    if (pending.empty()) {
        ready();
        return;
    }
    PoolObject* pool = pending.back();
    pending.pop_back();
    UuidBytes uuid = pool->def().uuid;
    std::string name = pool->def().name;
    pool->start([this, uuid, name, pending = std::move(pending),
                 ready = std::move(ready)](Result<void> r) mutable {
        if (!r) {
            log::error("starting storage pool '" + name + "': " + r.error().message());
            PoolObject* p = m_pools.findByUuid(uuid);
            if (p != nullptr && !p->persistent()) {
                (void)m_running.remove(uuid);
                m_pools.remove(uuid);
            }
        }
        startRecorded(std::move(pending), std::move(ready));
    });
}

} // namespace virtswarm::storage
