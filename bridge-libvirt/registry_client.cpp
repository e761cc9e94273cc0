// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry_client.hpp"

#include "virtswarm/definer.hpp"
#include "virtswarm/names.hpp"

namespace virtswarm::bridge {
namespace {

constexpr const char* kManagerInterface = "org.virtswarm.Hypervisor1.Manager";

Options definerOptions(uid_t definer) {
    return Options{{kDefinerUidOption, sdbus::Variant(static_cast<uint32_t>(definer))}};
}

} // namespace

RegistryClient::RegistryClient(sdbus::IConnection& bus, EventLoop& loop)
    : m_service(bus, loop,
                ServiceNames{names::kHypervisorBusName, names::kHypervisorRootPath,
                             kManagerInterface, DomainCache::kDomainInterface,
                             "the hypervisor registry"},
                m_cache) {
    m_service.setSignalHandler(
        [this](const std::string& member, sdbus::Message& m) { onManagerSignal(member, m); });
}

void RegistryClient::onManagerSignal(const std::string& member, sdbus::Message& message) {
    if (auto signal = readLifecycleSignal(member, "DomainEvent", message); signal && m_onEvent) {
        m_onEvent(DomainEventSignal{*signal});
    }
}

void RegistryClient::defineXml(const std::string& xml, uid_t definer, Then<std::string> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        names::kHypervisorRootPath, kManagerInterface, "DefineXML", kCallTimeout,
        [&xml, definer](sdbus::MethodCall& m) { m << xml << definerOptions(definer); },
        [done](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void RegistryClient::createXml(const std::string& xml, uid_t definer, Then<std::string> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        names::kHypervisorRootPath, kManagerInterface, "CreateXML", kStartTimeout,
        [&xml, definer](sdbus::MethodCall& m) { m << xml << definerOptions(definer); },
        [done](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void RegistryClient::getCapabilities(Then<std::string> done) {
    m_service.callReturning<std::string>(
        names::kHypervisorRootPath, kManagerInterface, "GetCapabilities", kCallTimeout,
        [](sdbus::MethodCall&) {}, std::move(done));
}

void RegistryClient::getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done) {
    m_service.callReturning<AllStats>(
        names::kHypervisorRootPath, kManagerInterface, "GetAllStats", deadline + kCallTimeout,
        [deadline](sdbus::MethodCall& m) {
            m << Options{{"timeout", sdbus::Variant(static_cast<uint32_t>(deadline.count()))}};
        },
        std::move(done));
}

void RegistryClient::domainAction(const std::string& path, const std::string& method,
                                  std::chrono::milliseconds timeout, Done done, Options options) {
    m_service.callVoid(
        path, DomainCache::kDomainInterface, method, timeout,
        [options = std::move(options)](sdbus::MethodCall& m) { m << options; }, std::move(done));
}

void RegistryClient::interfaceAddresses(const std::string& path,
                                        Then<std::vector<GuestInterfaceWire>> done) {
    m_service.callReturning<std::vector<GuestInterfaceWire>>(
        path, DomainCache::kDomainInterface, "InterfaceAddresses", kCallTimeout,
        [](sdbus::MethodCall& m) {
            m << Options{{"source", sdbus::Variant(std::string("agent"))}};
        },
        std::move(done));
}

void RegistryClient::getXml(const std::string& path, bool inactive, bool secure,
                            Then<std::string> done) {
    m_service.callReturning<std::string>(
        path, DomainCache::kDomainInterface, "GetXML", kCallTimeout,
        [inactive, secure](sdbus::MethodCall& m) {
            Options options;
            if (inactive) {
                options["inactive"] = sdbus::Variant(true);
            }
            if (secure) {
                options["secure"] = sdbus::Variant(true);
            }
            m << options;
        },
        std::move(done));
}

void RegistryClient::setAutostart(const std::string& path, bool autostart, Done done) {
    m_service.callVoid(
        path, DomainCache::kDomainInterface, "SetAutostart", kCallTimeout,
        [autostart](sdbus::MethodCall& m) { m << autostart << Options{}; }, std::move(done));
}

void RegistryClient::changeDevice(const std::string& path, const std::string& method,
                                  const std::string& xml, bool config, Done done) {
    m_service.callVoid(
        path, DomainCache::kDomainInterface, method, kCallTimeout,
        [&xml, config](sdbus::MethodCall& m) {
            Options options;
            if (config) {
                options["config"] = sdbus::Variant(true);
            }
            m << xml << options;
        },
        std::move(done));
}

void RegistryClient::getStats(const std::string& path, Then<PropertyMap> done) {
    m_service.callReturning<PropertyMap>(
        path, DomainCache::kDomainInterface, "GetStats", kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void RegistryClient::openConsole(const std::string& path, const std::string& device,
                                 Then<sdbus::UnixFd> done) {
    m_service.callReturning<sdbus::UnixFd>(
        path, DomainCache::kDomainInterface, "OpenConsole", kCallTimeout,
        [&device](sdbus::MethodCall& m) { m << device << Options{}; }, std::move(done));
}

} // namespace virtswarm::bridge
