// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "storage_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/fd_broker.hpp"
#include "virtswarm/service/manager_base.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Storage1.Manager_adaptor.h>

namespace virtswarm::storage {

// /org/virtswarm/Storage1: the Manager interface and the ObjectManager of every pool,
// volume and job (pool lookups from the skeleton's ManagerBase).
class ManagerObject final
    : public service::ManagerBase<PoolObject, org::virtswarm::Storage1::Manager_adaptor> {
public:
    explicit ManagerObject(StorageService& service);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    void CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    sdbus::ObjectPath LookupVolumeByPath(const std::string& path) override;
    std::vector<sdbus::ObjectPath> ListPools(const Options& options) override;
    void OpenVolume(service::FdReplyWithAttributes&& result, std::string pool, std::string volume,
                    Options options) override;
    uint32_t ReleaseVolumes(const std::string& domain,
                            const std::vector<std::string>& paths) override;

    StorageService& m_service;
    Lifetime m_lifetime;
};

} // namespace virtswarm::storage
