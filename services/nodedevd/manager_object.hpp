// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.NodeDevice1.Manager_adaptor.h>

namespace virtswarm::nodedev {

class DeviceRegistry;

// /org/virtswarm/NodeDevice1: lookups and lists, mediated device creation, the
// ObjectManager of all devices and their lifecycle events.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::NodeDevice1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor, sdbus::Properties_adaptor> {
public:
    explicit ManagerObject(DeviceRegistry& registry);
    ~ManagerObject();

private:
    sdbus::ObjectPath LookupByName(const std::string& name) override;
    sdbus::ObjectPath LookupSCSIHostByWWN(const std::string& wwnn,
                                          const std::string& wwpn) override;
    std::vector<sdbus::ObjectPath> ListDevices(const Options& options) override;
    void CreateMdev(sdbus::Result<sdbus::ObjectPath>&& result, std::string parent, std::string type,
                    std::string uuid, Options options) override;
    bool LiveUpdates() override;

    DeviceRegistry& m_registry;
};

} // namespace virtswarm::nodedev
