// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "pool_object.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/service/async_reply.hpp"
#include "volume_object.hpp"
#include "volume_open.hpp"

namespace virtswarm::storage {
namespace {

constexpr auto kDefineXML = actions::forMethod(names::kStorageManagerInterface, "DefineXML");
constexpr auto kCreateXML = actions::forMethod(names::kStorageManagerInterface, "CreateXML");
constexpr auto kOpenVolume = actions::forMethod(names::kStorageManagerInterface, "OpenVolume");

} // namespace

ManagerObject::ManagerObject(StorageService& service)
    : ManagerBase(service.bus(), names::kStorageRootPath, service.pools())
    , m_service(service) {
    registerAdaptor();
    m_service.onPoolEvent = [this](PoolObject& pool, PoolEvent event) {
        emitPoolEvent(sdbus::ObjectPath(pool.getObjectPath()), pool.def().name,
                      formatUuid(pool.def().uuid), static_cast<int32_t>(event), 0);
    };
    m_service.onPoolRefreshed = [this](PoolObject& pool) {
        emitPoolRefreshed(sdbus::ObjectPath(pool.getObjectPath()), pool.def().name,
                          formatUuid(pool.def().uuid));
    };
}

ManagerObject::~ManagerObject() {
    m_service.onPoolEvent = nullptr;
    m_service.onPoolRefreshed = nullptr;
    unregisterAdaptor();
}

void ManagerObject::DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeDefinition<PoolXml>(
        getObject(), m_service.authority(), std::move(result), xml, options, "pool",
        actions::actionId(kDefineXML).c_str(), parsePoolXml,
        [this, guard = m_lifetime.guard()](const PathResult& shared,
                                           const std::shared_ptr<PoolXml>& definition) {
            if (!guard.alive()) {
                return;
            }
            auto pool = m_service.define(*definition);
            if (!pool) {
                failPath(shared, pool.error());
                return;
            }
            shared->returnResults(sdbus::ObjectPath(pool.value()->getObjectPath()));
        });
}

void ManagerObject::CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    // Checked by the skeleton as an allowed option; its type here, before polkit.
    auto build = boolOption(options, "build", false);
    if (!build) {
        result.returnError(toDBusError(build.error()));
        return;
    }
    authorizeDefinitionFor<PoolXml>(
        getObject(), m_service.authority(), std::move(result), xml, options, "pool",
        DefinitionRights{{actions::actionId(kCreateXML)}, {"build"}}, parsePoolXml,
        [this, guard = m_lifetime.guard(), build = build.value()](
            const PathResult& shared, const std::shared_ptr<PoolXml>& definition, uid_t) {
            if (!guard.alive()) {
                return;
            }
            m_service.create(*definition, build, [shared](Result<PoolObject*> pool) {
                if (!pool) {
                    failPath(shared, pool.error());
                    return;
                }
                shared->returnResults(sdbus::ObjectPath(pool.value()->getObjectPath()));
            });
        });
}

sdbus::ObjectPath ManagerObject::LookupVolumeByPath(const std::string& path) {
    VolumeObject* volume = m_service.volumeByPath(path);
    if (volume == nullptr) {
        throw toDBusError(Error(Code::NoSuchVolume, "no storage volume with path '" + path + "'"));
    }
    return sdbus::ObjectPath(volume->path());
}

std::vector<sdbus::ObjectPath> ManagerObject::ListPools(const Options& options) {
    return listPaths(options, [](PoolObject& pool) { return pool.pool().active(); });
}

void ManagerObject::OpenVolume(service::FdReplyWithAttributes&& result, std::string pool,
                               std::string volume, Options options) {
    auto request = parseOpenRequest(options);
    Result<PolkitDetails> details = request ? Error(Code::Internal, "") : request.error();
    if (request) {
        auto target = volumeToOpen(m_service, pool, volume);
        details = target ? Result<PolkitDetails>(target.value().details)
                         : Result<PolkitDetails>(target.error());
    }
    actions::MethodAction action = kOpenVolume;
    if (request && !request.value().writable) {
        action.actionId = actions::kVolumeOpenReadOnlyAction;
    }
    std::optional<uid_t> onBehalfOf;
    if (request) {
        onBehalfOf = request.value().definerUid;
    }
    std::string holder = getObject().getCurrentlyProcessedMessage()->getSender();
    auto guard = m_lifetime.guard();
    service::handOutFd(
        getObject(), m_service.authority(), std::move(result), std::move(details), action,
        onBehalfOf,
        [this, guard, pool, volume, holder,
         request = request.value_or(OpenRequest{})](uid_t) -> Result<service::BrokeredFd> {
            if (!guard.alive()) {
                return Error(Code::Internal, "storaged is stopping");
            }
            // Looked up again: the pool may have stopped while polkit decided.
            auto target = volumeToOpen(m_service, pool, volume);
            if (!target) {
                return target.takeError();
            }
            return openHeldVolume(m_service.holders(), target.value(), holder, request);
        });
}

uint32_t ManagerObject::ReleaseVolumes(const std::string& domain,
                                       const std::vector<std::string>& paths) {
    std::string holder = getObject().getCurrentlyProcessedMessage()->getSender();
    size_t released = 0;
    if (paths.empty()) {
        released = m_service.holders().release(holder, domain, "");
    }
    for (const auto& path : paths) {
        released += m_service.holders().release(holder, domain, path);
    }
    return static_cast<uint32_t>(released);
}

} // namespace virtswarm::storage
