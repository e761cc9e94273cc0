// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pool_object.hpp"

#include "backing_store.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/async_reply.hpp"
#include "volume_object.hpp"

namespace virtswarm::storage {
namespace {

using Pool_adaptor = org::virtswarm::Storage1::Pool_adaptor;

constexpr auto kBuild = actions::forMethod(names::kStoragePoolInterface, "Build");
constexpr auto kStart = actions::forMethod(names::kStoragePoolInterface, "Start");
constexpr auto kStop = actions::forMethod(names::kStoragePoolInterface, "Stop");
constexpr auto kRefresh = actions::forMethod(names::kStoragePoolInterface, "Refresh");
constexpr auto kDelete = actions::forMethod(names::kStoragePoolInterface, "Delete");
constexpr auto kUndefine = actions::forMethod(names::kStoragePoolInterface, "Undefine");
constexpr auto kGetXML = actions::forMethod(names::kStoragePoolInterface, "GetXML");
constexpr auto kSetAutostart = actions::forMethod(names::kStoragePoolInterface, "SetAutostart");
constexpr auto kCreateVolume = actions::forMethod(names::kStoragePoolInterface, "CreateVolume");
constexpr auto kCloneVolume = actions::forMethod(names::kStoragePoolInterface, "CloneVolume");
constexpr const char* kDataRead = "org.virtswarm.storage-vol.data-read";

} // namespace

PoolObject::PoolObject(StorageService& service, const std::string& path, PoolXml definition,
                       bool persistent)
    : AdaptorInterfaces(service.bus(), path)
    , m_service(service)
    , m_pool(service.loop(), std::move(definition))
    , m_persistent(persistent)
    , m_gate(
          getObject(), service.authority(), [this] { return details(); },
          [this] { return Error(Code::NoSuchPool, "storage pool '" + def().name + "' is gone"); }) {
    registerAdaptor();
    m_pool.onChanged = [this] { sync(); };
}

PoolObject::~PoolObject() {
    m_pool.onChanged = nullptr;
    m_volumeObjects.clear();
    unregisterAdaptor();
}

PolkitDetails PoolObject::details() const {
    return actions::objectDetails("pool", def().name, def().uuid);
}

PolkitDetails PoolObject::volumeDetails(const std::string& volume) const {
    PolkitDetails d = details();
    d["vol_name"] = volume;
    return d;
}

VolumeObject* PoolObject::volumeObject(const std::string& name) const {
    auto it = m_volumeObjects.find(name);
    return it == m_volumeObjects.end() ? nullptr : it->second.get();
}

void PoolObject::makePersistent() {
    if (!m_persistent) {
        m_persistent = true;
        emitPropertiesChangedSignal(Pool_adaptor::INTERFACE_NAME, {"Persistent"});
    }
}

void PoolObject::setAutostartFlag(bool autostart) {
    if (m_autostart != autostart) {
        m_autostart = autostart;
        emitPropertiesChangedSignal(Pool_adaptor::INTERFACE_NAME, {"Autostart"});
    }
}

void PoolObject::sync() {
    for (auto it = m_volumeObjects.begin(); it != m_volumeObjects.end();) {
        if (m_pool.volume(it->first) == nullptr) {
            it->second->emitInterfacesRemovedSignal();
            it = m_volumeObjects.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [name, info] : m_pool.volumes()) {
        if (auto* existing = volumeObject(name)) {
            existing->update(info);
            continue;
        }
        auto object = std::make_unique<VolumeObject>(m_service, *this, info);
        object->emitInterfacesAddedSignal();
        m_volumeObjects.emplace(name, std::move(object));
    }
    emitPropertiesChangedSignal(Pool_adaptor::INTERFACE_NAME,
                                {"State", "Active", "Capacity", "Allocation", "Available"});
}

void PoolObject::authorizeWith(const char* actionId, PolkitDetails details,
                               std::function<void(Result<void>)> then) {
    Caller caller = currentCaller(getObject());
    auto guard = m_lifetime.guard();
    m_service.authority().checkBusName(
        caller.sender, actionId, details, caller.allowInteraction,
        [guard, then = std::move(then), name = def().name](Result<void> verdict) {
            if (!guard.alive()) {
                then(Error(Code::NoSuchPool, "storage pool '" + name + "' is gone"));
                return;
            }
            then(std::move(verdict));
        });
}

void PoolObject::start(std::function<void(Result<void>)> done) {
    m_pool.start([this, done](Result<void> r) {
        if (r) {
            m_service.poolStarted(*this);
        }
        done(r);
    });
}

void PoolObject::Build(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kBuild,
                  [this](const SharedResult<>& r) {
                      m_pool.build([r](Result<void> outcome) { reply(r, outcome); });
                  });
}

void PoolObject::Start(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kStart,
                  [this](const SharedResult<>& r) {
                      start([r](Result<void> outcome) { reply(r, outcome); });
                  });
}

void PoolObject::Stop(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kStop,
                  [this](const SharedResult<>& r) {
                      m_pool.stop([this, r](Result<void> outcome) {
                          if (outcome) {
                              m_service.poolStopped(*this);
                          }
                          reply(r, outcome);
                      });
                  });
}

void PoolObject::Refresh(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kRefresh,
                  [this](const SharedResult<>& r) {
                      m_pool.refresh([this, r](Result<void> outcome) {
                          // Announced before the reply, so a caller sees its own refresh.
                          if (outcome && m_service.onPoolRefreshed) {
                              m_service.onPoolRefreshed(*this);
                          }
                          reply(r, outcome);
                      });
                  });
}

void PoolObject::Delete(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kDelete,
                  [this](const SharedResult<>& r) {
                      m_pool.deleteStorage([r](Result<void> outcome) { reply(r, outcome); });
                  });
}

void PoolObject::Undefine(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kUndefine,
                  [this](const SharedResult<>& r) { reply(r, m_service.undefine(*this)); });
}

void PoolObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto inactive = boolOption(options, "inactive", false);
    m_gate.handle(std::move(result),
                  service::firstError(checkOptions(options, {"inactive"}), inactive), kGetXML,
                  [this, inactive = inactive.value_or(false)](const SharedResult<std::string>& r) {
                      reply(r, Result<std::string>(inactive ? m_pool.xml() : m_pool.liveXml()));
                  });
}

void PoolObject::SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kSetAutostart,
                  [this, autostart](const SharedResult<>& r) {
                      reply(r, m_service.setAutostart(*this, autostart));
                  });
}

void PoolObject::CreateVolume(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    auto shared = share(std::move(result));
    auto def = parseVolumeXml(xml);
    if (auto r = service::firstError(checkOptions(options, {}), def); !r) {
        fail(shared, r.error());
        return;
    }
    VolumeDef volume = std::move(def).value();
    m_gate.authorizeCaller(
        kCreateVolume, volumeDetails(volume.name),
        [this, shared, volume](Result<service::MethodGate::AuthorizedCaller> caller) {
            if (!caller) {
                fail(shared, caller.error());
                return;
            }
            // A backing store is read as the caller, never with storaged's own rights.
            auto asCaller = HostPathOpener::forDefiner(caller.value().uid);
            auto resolved = asCaller ? storage::resolveBackingStore(volume, asCaller.value())
                                     : Result<VolumeDef>(asCaller.takeError());
            if (!resolved) {
                fail(shared, resolved.error());
                return;
            }
            m_pool.createVolume(resolved.value(), [this, shared,
                                                   name = volume.name](Result<void> r) {
                VolumeObject* object = r ? volumeObject(name) : nullptr;
                if (!r || object == nullptr) {
                    fail(shared,
                         r ? Error(Code::OperationFailed, "volume '" + name + "' did not appear")
                           : r.error());
                    return;
                }
                shared->returnResults(sdbus::ObjectPath(object->path()));
            });
        });
}

void PoolObject::CloneVolume(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::ObjectPath source,
                             std::string xml, Options options) {
    auto shared = share(std::move(result));
    auto def = parseVolumeXml(xml);
    if (auto r = service::firstError(checkOptions(options, {}), def); !r) {
        fail(shared, r.error());
        return;
    }
    VolumeObject* from = m_service.volumeByObjectPath(source);
    if (from == nullptr) {
        fail(shared, Error(Code::NoSuchVolume, "no storage volume at " + std::string(source)));
        return;
    }
    VolumeDef volume = std::move(def).value();
    PolkitDetails sourceDetails = from->pool().volumeDetails(from->name());
    authorizeWith(
        std::string(kCloneVolume.actionId).c_str(), volumeDetails(volume.name),
        [this, shared, volume, source, sourceDetails](Result<void> allowed) {
            if (!allowed) {
                fail(shared, allowed.error());
                return;
            }
            authorizeWith(
                kDataRead, sourceDetails, [this, shared, volume, source](Result<void> reading) {
                    // The source may be gone while polkit decided.
                    VolumeObject* origin = m_service.volumeByObjectPath(source);
                    if (reading && origin == nullptr) {
                        reading = Error(Code::NoSuchVolume,
                                        "no storage volume at " + std::string(source));
                    }
                    if (!reading) {
                        fail(shared, reading.error());
                        return;
                    }
                    auto job = m_pool.cloneVolume(origin->pool().pool(), origin->name(), volume);
                    if (!job) {
                        fail(shared, job.error());
                        return;
                    }
                    shared->returnResults(
                        m_service.publishJob(job.value(), volumeDetails(volume.name)));
                });
        });
}

} // namespace virtswarm::storage
