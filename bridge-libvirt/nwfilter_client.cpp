// SPDX-License-Identifier: LGPL-2.1-or-later
#include "nwfilter_client.hpp"

#include "virtswarm/names.hpp"

#include <cstring>

namespace virtswarm::bridge {

NWFilterClient::NWFilterClient(sdbus::IConnection& bus, EventLoop& loop)
    : m_service(bus, loop,
                ServiceNames{names::kNWFilterBusName, names::kNWFilterRootPath,
                             names::kNWFilterManagerInterface, "the network filter daemon"}) {
    m_service.addMirror(names::kNWFilterInterface, m_cache);
}

void NWFilterClient::define(const std::string& xml, Then<UuidBytes> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        names::kNWFilterRootPath, names::kNWFilterManagerInterface, "DefineXML",
        ServiceClient::kCallTimeout, [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done](Result<sdbus::ObjectPath> path) {
            if (!path) {
                done(path.takeError());
                return;
            }
            // <prefix><32 hex digits>: the UUID nwfilterd kept (a definition without
            // <uuid> of an existing filter keeps the filter's).
            const std::string& text = path.value();
            size_t prefix = std::strlen(names::kNWFilterPathPrefix);
            auto uuid = text.size() > prefix ? parseUuid(text.substr(prefix))
                                             : Result<UuidBytes>(Error(Code::Internal, "path"));
            if (!uuid) {
                done(Error(Code::Internal, "unexpected filter path " + text));
                return;
            }
            done(uuid.value());
        });
}

void NWFilterClient::getXml(const std::string& path, Then<std::string> done) {
    m_service.callReturning<std::string>(
        path, names::kNWFilterInterface, "GetXML", ServiceClient::kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NWFilterClient::undefine(const std::string& path, Done done) {
    m_service.callVoid(
        path, names::kNWFilterInterface, "Undefine", ServiceClient::kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NWFilterClient::listBindings(Then<std::vector<std::string>> done) {
    m_service.callReturning<std::vector<std::string>>(
        names::kNWFilterRootPath, names::kNWFilterManagerInterface, "ListBindings",
        ServiceClient::kCallTimeout, [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NWFilterClient::bindingXml(const std::string& port, Then<std::string> done) {
    m_service.callReturning<std::string>(
        names::kNWFilterRootPath, names::kNWFilterManagerInterface, "GetBindingXML",
        ServiceClient::kCallTimeout, [&port](sdbus::MethodCall& m) { m << port << Options{}; },
        std::move(done));
}

void NWFilterClient::createBinding(const std::string& xml, Then<std::string> done) {
    m_service.callReturning<std::string>(
        names::kNWFilterRootPath, names::kNWFilterManagerInterface, "CreateBinding",
        ServiceClient::kCallTimeout, [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        std::move(done));
}

void NWFilterClient::deleteBinding(const std::string& port, Done done) {
    m_service.callVoid(
        names::kNWFilterRootPath, names::kNWFilterManagerInterface, "DeleteBinding",
        ServiceClient::kCallTimeout, [&port](sdbus::MethodCall& m) { m << port << Options{}; },
        std::move(done));
}

} // namespace virtswarm::bridge
