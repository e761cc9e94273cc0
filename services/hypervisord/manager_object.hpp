// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Hypervisor1.Manager_adaptor.h>

namespace virtswarm::hypervisor {

class Registry;

// /org/virtswarm/Hypervisor1: the Manager interface and the ObjectManager of all domains.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Hypervisor1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor, sdbus::Properties_adaptor> {
public:
    explicit ManagerObject(Registry& registry);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    void CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    sdbus::ObjectPath LookupByName(const std::string& name) override;
    sdbus::ObjectPath LookupByUUID(const std::string& uuid) override;
    std::vector<sdbus::ObjectPath> ListDomains(const Options& options) override;
    void GetAllStats(sdbus::Result<std::map<sdbus::ObjectPath, Options>>&& result,
                     Options options) override;
    std::string GetCapabilities() override;
    std::string Mode() override;
    std::string Version() override { return VIRTSWARM_VERSION; }

    Registry& m_registry;
};

} // namespace virtswarm::hypervisor
