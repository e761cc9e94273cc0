// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/manager_base.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.NWFilter1.Manager_adaptor.h>

namespace virtswarm::nwfilter {

class FilterObject;
class FilterRegistry;

// /org/virtswarm/NWFilter1: the Manager interface, the ObjectManager of all filters
// (lookups from the skeleton's ManagerBase), and the bindings of filters to ports.
class ManagerObject final
    : public service::ManagerBase<FilterObject, org::virtswarm::NWFilter1::Manager_adaptor> {
public:
    explicit ManagerObject(FilterRegistry& registry);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    std::vector<sdbus::ObjectPath> ListFilters(const Options& options) override;
    void CreateBinding(sdbus::Result<std::string>&& result, std::string xml,
                       Options options) override;
    void DeleteBinding(sdbus::Result<>&& result, std::string portdev, Options options) override;
    void GetBindingXML(sdbus::Result<std::string>&& result, std::string portdev,
                       Options options) override;
    std::vector<std::string> ListBindings(const Options& options) override;

    // The polkit details of the binding of `port`, or its NoSuchNWFilterBinding error.
    Result<PolkitDetails> boundDetails(const std::string& port) const;

    FilterRegistry& m_registry;
    // Binding methods' details are the call's (port, filter), not the manager's.
    service::MethodGate m_gate;
};

} // namespace virtswarm::nwfilter
