// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/network_def.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Network1.Manager_adaptor.h>

namespace virtswarm::network {

class NetworkRegistry;

// /org/virtswarm/Network1: the Manager interface, the ObjectManager of all networks, and
// AcquireTap, the privileged service every VM's shim uses for its NICs.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Network1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor> {
public:
    explicit ManagerObject(NetworkRegistry& registry);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    void CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    sdbus::ObjectPath LookupByName(const std::string& name) override;
    sdbus::ObjectPath LookupByUUID(const std::string& uuid) override;
    std::vector<sdbus::ObjectPath> ListNetworks(const Options& options) override;
    void AcquireTap(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string network,
                    Options options) override;

    NetworkRegistry& m_registry;
};

} // namespace virtswarm::network
