// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/nwfilter_def.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.NWFilter1.Filter_adaptor.h>

namespace virtswarm::nwfilter {

class FilterRegistry;

// One network filter on the bus: its definition (GetXML) and Undefine, each behind
// polkit with the filter's name and UUID.
class FilterObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::NWFilter1::Filter_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    // Made by FilterRegistry, which announces it on the bus.
    FilterObject(FilterRegistry& registry, const std::string& path, FilterXml filter);
    ~FilterObject();

    const FilterDef& def() const { return m_filter.def; }
    const FilterXml& filter() const { return m_filter; }
    // A new definition of the same filter (same name and UUID).
    void redefine(FilterXml filter);

private:
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void Undefine(sdbus::Result<>&& result, Options options) override;
    std::string Name() override { return m_filter.def.name; }
    std::string UUID() override { return formatUuid(m_filter.def.uuid); }
    std::string Chain() override { return m_filter.def.chain; }
    int32_t Priority() override { return m_filter.def.priority; }

    FilterRegistry& m_registry;
    FilterXml m_filter;
    service::MethodGate m_gate;
};

} // namespace virtswarm::nwfilter
