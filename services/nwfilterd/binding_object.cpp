// SPDX-License-Identifier: LGPL-2.1-or-later
#include "binding_object.hpp"

#include "registry.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::nwfilter {
namespace {

constexpr auto kGetXML = actions::forMethod(names::kNWFilterBindingInterface, "GetXML");

} // namespace

BindingObject::BindingObject(FilterRegistry& registry, const std::string& path,
                             const BindingXml& binding)
    : AdaptorInterfaces(registry.connection(), path)
    , m_registry(registry)
    , m_def(binding.def)
    , m_gate(
          getObject(), registry.authority(),
          [this] { return actions::bindingDetails(m_def.portDev, m_def.filter.filter); },
          [this] {
              return Error(Code::NoSuchNWFilterBinding,
                           "no filter binding for port '" + m_def.portDev + "'");
          }) {
    registerAdaptor();
}

BindingObject::~BindingObject() {
    unregisterAdaptor();
}

void BindingObject::learnedChanged() {
    emitPropertiesChangedSignal(Binding_adaptor::INTERFACE_NAME, {"LearnedIPs"});
}

std::vector<std::string> BindingObject::LearnedIPs() {
    return m_registry.learnedIps(m_def.portDev);
}

void BindingObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kGetXML,
                  [this](const SharedResult<std::string>& shared) {
                      auto bound = m_registry.binding(m_def.portDev);
                      reply(shared, bound ? Result<std::string>(bound.value()->xml)
                                          : Result<std::string>(bound.error()));
                  });
}

} // namespace virtswarm::nwfilter
