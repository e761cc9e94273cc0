// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/nwfilter_binding.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.NWFilter1.Binding_adaptor.h>

namespace virtswarm::nwfilter {

class FilterRegistry;

// One filter binding on the bus (libvirt's nwfilter-binding object), at
// <kNWFilterBindingPathPrefix><escaped port>: what was bound (read-only properties), the
// address learned for $IP (LearnedIPs, with PropertiesChanged), and GetXML behind polkit
// with the port and the bound filter's name. The registry makes one per bound port and
// removes it with the binding.
class BindingObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::NWFilter1::Binding_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    BindingObject(FilterRegistry& registry, const std::string& path, const BindingXml& binding);
    ~BindingObject();

    // The learned addresses changed: PropertiesChanged for LearnedIPs.
    void learnedChanged();

private:
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    std::string PortDev() override { return m_def.portDev; }
    std::string Mac() override { return m_def.mac; }
    std::string FilterName() override { return m_def.filter.filter; }
    std::string OwnerName() override { return m_def.ownerName; }
    std::string OwnerUUID() override { return formatUuid(m_def.ownerUuid); }
    std::vector<std::string> LearnedIPs() override;

    FilterRegistry& m_registry;
    BindingDef m_def; // a binding never changes: it is deleted and created again
    service::MethodGate m_gate;
};

} // namespace virtswarm::nwfilter
