// SPDX-License-Identifier: LGPL-2.1-or-later
#include "filter_object.hpp"

#include "registry.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::nwfilter {
namespace {

constexpr auto kGetXML = actions::forMethod(names::kNWFilterInterface, "GetXML");
constexpr auto kUndefine = actions::forMethod(names::kNWFilterInterface, "Undefine");

} // namespace

FilterObject::FilterObject(FilterRegistry& registry, const std::string& path, FilterXml filter)
    : AdaptorInterfaces(registry.connection(), path)
    , m_registry(registry)
    , m_filter(std::move(filter))
    , m_gate(
          getObject(), registry.authority(),
          [this] {
              return actions::objectDetails("nwfilter", m_filter.def.name, m_filter.def.uuid);
          },
          [this] {
              return Error(Code::NoSuchNWFilter,
                           "network filter '" + m_filter.def.name + "' no longer exists");
          }) {
    registerAdaptor();
}

FilterObject::~FilterObject() {
    unregisterAdaptor();
}

void FilterObject::redefine(FilterXml filter) {
    m_filter = std::move(filter);
    emitPropertiesChangedSignal(Filter_adaptor::INTERFACE_NAME, {"Chain", "Priority"});
}

void FilterObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    m_gate.handle(
        std::move(result), checkOptions(options, {}), kGetXML,
        [this](const SharedResult<std::string>& shared) { shared->returnResults(m_filter.xml); });
}

void FilterObject::Undefine(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kUndefine,
                  [this](const SharedResult<>& shared) {
                      // The registry destroys this object: nothing of it is used after.
                      m_registry.undefine(*this, [shared](Result<void> r) { reply(shared, r); });
                  });
}

} // namespace virtswarm::nwfilter
