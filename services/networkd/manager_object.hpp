// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "filter_binder.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/network_def.hpp"
#include "virtswarm/service/fd_broker.hpp"
#include "virtswarm/service/manager_base.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Network1.Manager_adaptor.h>

namespace virtswarm::network {

class NetworkObject;
class NetworkRegistry;

// /org/virtswarm/Network1: the Manager interface, the ObjectManager of all networks
// (lookups from the skeleton's ManagerBase), and AcquireTap, the privileged service every
// VM's shim uses for its NICs.
class ManagerObject final
    : public service::ManagerBase<NetworkObject, org::virtswarm::Network1::Manager_adaptor> {
public:
    explicit ManagerObject(NetworkRegistry& registry);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    void CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    std::vector<sdbus::ObjectPath> ListNetworks(const Options& options) override;
    std::vector<HostInterfaceWire> ListHostInterfaces(const Options& options) override;
    void AcquireTap(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string network,
                    Options options) override;
    // A TAP on the active network's bridge (or the host bridge), owned by `owner`.
    Result<service::BrokeredFd> createTap(const std::string& network, const std::string& hostBridge,
                                          uid_t owner);

    NetworkRegistry& m_registry;
    FilterBinder m_filters;
};

} // namespace virtswarm::network
