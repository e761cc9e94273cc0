// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "domain_cache.hpp"
#include "service_client.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>

// The bridge's side of the registry (org.virtswarm.Hypervisor1): its methods, called
// asynchronously with timeouts; the domain cache, following the registry's ObjectManager and
// PropertiesChanged; Manager.DomainEvent handed to the event forwarder.
namespace virtswarm::bridge {

// Manager.DomainEvent (virDomainEventType and its detail).
struct DomainEventSignal : LifecycleSignal {};

class RegistryClient {
public:
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    static constexpr std::chrono::milliseconds kCallTimeout = ServiceClient::kCallTimeout;
    // Start and CreateXML reply once the guest runs; the registry itself waits up to 60 s.
    static constexpr std::chrono::milliseconds kStartTimeout{90000};

    RegistryClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches and starts the first synchronisation of the cache (which
    // activates the registry).
    Result<void> start() { return m_service.start(true); }

    void setEventHandler(std::function<void(const DomainEventSignal&)> handler) {
        m_onEvent = std::move(handler);
    }

    const DomainCache& cache() const { return m_cache; }
    // Runs `then` once the cache mirrors the registry: at once if it does, or after a
    // GetManagedObjects (which also activates the registry when it is not running).
    void whenSynced(Done then) { m_service.whenSynced(std::move(then)); }

    // Manager
    // The bridge calls as root on behalf of a libvirt client: `definer` is that client's
    // uid, which the registry records as the domain's definer (option definer-uid).
    void defineXml(const std::string& xml, uid_t definer, Then<std::string> done);
    void createXml(const std::string& xml, uid_t definer, Then<std::string> done);
    void getCapabilities(Then<std::string> done);
    // Manager.GetAllStats: every domain's GetStats within `deadline`, whatever the shims do.
    using AllStats = std::map<sdbus::ObjectPath, PropertyMap>;
    void getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done);
    // Domain methods of the shape M(a{sv} options) -> (): Start, Shutdown, Destroy,
    // Undefine, Reboot, Reset, Suspend, Resume.
    void domainAction(const std::string& path, const std::string& method,
                      std::chrono::milliseconds timeout, Done done, Options options = {});
    // The guest agent's view of the guest's interfaces (InterfaceAddresses, source=agent).
    void interfaceAddresses(const std::string& path, Then<std::vector<GuestInterfaceWire>> done);
    // Domain.GetXML; `secure` asks for the secrets too (the caller checked read-secure).
    void getXml(const std::string& path, bool inactive, bool secure, Then<std::string> done);
    void setAutostart(const std::string& path, bool autostart, Done done);
    void getStats(const std::string& path, Then<PropertyMap> done);
    // AttachDevice / DetachDevice (s xml, a{sv} options{"config": b}).
    void changeDevice(const std::string& path, const std::string& method, const std::string& xml,
                      bool config, Done done);
    void openConsole(const std::string& path, const std::string& device, Then<sdbus::UnixFd> done);

private:
    void onManagerSignal(const std::string& member, sdbus::Message& message);

    DomainCache m_cache;
    ServiceClient m_service;
    std::function<void(const DomainEventSignal&)> m_onEvent;
};

} // namespace virtswarm::bridge
