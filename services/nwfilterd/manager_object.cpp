// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "filter_object.hpp"
#include "registry.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::nwfilter {
namespace {

constexpr auto kDefineXML = actions::forMethod(names::kNWFilterManagerInterface, "DefineXML");
constexpr auto kCreateBinding =
    actions::forMethod(names::kNWFilterManagerInterface, "CreateBinding");
constexpr auto kDeleteBinding =
    actions::forMethod(names::kNWFilterManagerInterface, "DeleteBinding");
constexpr auto kGetBindingXML =
    actions::forMethod(names::kNWFilterManagerInterface, "GetBindingXML");

} // namespace

ManagerObject::ManagerObject(FilterRegistry& registry)
    : ManagerBase(registry.connection(), names::kNWFilterRootPath, registry.filters())
    , m_registry(registry)
    , m_gate(
          getObject(), registry.authority(), [] { return PolkitDetails{}; },
          [] { return Error(Code::Internal, "the filter manager is gone"); }) {
    registerAdaptor();
}

ManagerObject::~ManagerObject() {
    unregisterAdaptor();
}

void ManagerObject::DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeDefinitionFor<FilterXml>(
        getObject(), m_registry.authority(), std::move(result), xml, options, "nwfilter",
        DefinitionRights{actions::actionIds(kDefineXML), {}}, parseFilterXml,
        [this](const PathResult& shared, const std::shared_ptr<FilterXml>& filter, uid_t) {
            m_registry.define(*filter, [shared](Result<FilterObject*> defined) {
                if (!defined) {
                    failPath(shared, defined.error());
                    return;
                }
                shared->returnResults(
                    sdbus::ObjectPath(FilterRegistry::objectPathFor(defined.value()->def().uuid)));
            });
        });
}

std::vector<sdbus::ObjectPath> ManagerObject::ListFilters(const Options& options) {
    if (auto r = checkOptions(options, {}); !r) {
        throw toDBusError(r.error());
    }
    std::vector<sdbus::ObjectPath> out;
    for (const FilterObject* f : m_registry.filters().all()) {
        out.emplace_back(f->getObjectPath());
    }
    return out;
}

void ManagerObject::CreateBinding(sdbus::Result<std::string>&& result, std::string xml,
                                  Options options) {
    auto parsed = parseBindingXml(xml);
    Result<void> arguments = checkOptions(options, {});
    PolkitDetails details;
    if (!parsed) {
        arguments = parsed.error();
    } else {
        details =
            actions::bindingDetails(parsed.value().def.portDev, parsed.value().def.filter.filter);
    }
    auto binding = parsed ? std::make_shared<BindingXml>(std::move(parsed).value()) : nullptr;
    m_gate.handleFor(std::move(result), std::move(arguments), kCreateBinding, std::move(details),
                     [this, binding](const SharedResult<std::string>& shared,
                                     const service::MethodGate::AuthorizedCaller&) {
                         std::string port = binding->def.portDev;
                         m_registry.bind(std::move(*binding), [shared, port](Result<void> r) {
                             reply(shared,
                                   r ? Result<std::string>(port) : Result<std::string>(r.error()));
                         });
                     });
}

Result<PolkitDetails> ManagerObject::boundDetails(const std::string& port) const {
    auto bound = m_registry.binding(port);
    if (!bound) {
        return bound.takeError();
    }
    return actions::bindingDetails(port, bound.value()->def.filter.filter);
}

void ManagerObject::DeleteBinding(sdbus::Result<>&& result, std::string portdev, Options options) {
    auto details = boundDetails(portdev);
    m_gate.handleFor(std::move(result), service::firstError(checkOptions(options, {}), details),
                     kDeleteBinding, details ? details.value() : PolkitDetails{},
                     [this, portdev](const SharedResult<>& shared,
                                     const service::MethodGate::AuthorizedCaller&) {
                         m_registry.unbind(portdev, [shared](Result<void> r) { reply(shared, r); });
                     });
}

void ManagerObject::GetBindingXML(sdbus::Result<std::string>&& result, std::string portdev,
                                  Options options) {
    auto details = boundDetails(portdev);
    m_gate.handleFor(std::move(result), service::firstError(checkOptions(options, {}), details),
                     kGetBindingXML, details ? details.value() : PolkitDetails{},
                     [this, portdev](const SharedResult<std::string>& shared,
                                     const service::MethodGate::AuthorizedCaller&) {
                         auto bound = m_registry.binding(portdev);
                         reply(shared, bound ? Result<std::string>(bound.value()->xml)
                                             : Result<std::string>(bound.error()));
                     });
}

std::vector<std::string> ManagerObject::ListBindings(const Options& options) {
    if (auto r = checkOptions(options, {}); !r) {
        throw toDBusError(r.error());
    }
    return m_registry.boundPorts();
}

} // namespace virtswarm::nwfilter
