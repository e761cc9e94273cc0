// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "domain_cache.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

// The bridge's side of the swarm's D-Bus API (org.virtswarm.Hypervisor1): every method is
// called asynchronously with a timeout, never synchronously from a handler; the domain
// cache follows the registry's ObjectManager and PropertiesChanged; Manager.DomainEvent is
// handed to the event forwarder.
namespace virtswarm::bridge {

struct DomainEventSignal {
    std::string path;
    std::string name;
    UuidBytes uuid{};
    int32_t event = 0;
    int32_t detail = 0;
};

class RegistryClient {
public:
    using Done = std::function<void(Result<void>)>;
    template <typename T> using Then = std::function<void(Result<T>)>;

    static constexpr std::chrono::milliseconds kCallTimeout{30000};
    // Start and CreateXML reply once the guest runs; the registry itself waits up to 60 s.
    static constexpr std::chrono::milliseconds kStartTimeout{90000};

    RegistryClient(sdbus::IConnection& bus, EventLoop& loop);
    ~RegistryClient();
    RegistryClient(const RegistryClient&) = delete;
    RegistryClient& operator=(const RegistryClient&) = delete;

    // Installs the signal matches (at start-up: adding a match waits for the bus) and
    // starts the first synchronisation of the cache.
    Result<void> start();

    void setEventHandler(std::function<void(const DomainEventSignal&)> handler) {
        m_onEvent = std::move(handler);
    }

    const DomainCache& cache() const { return m_cache; }
    // Runs `then` once the cache mirrors the registry: at once if it does, or after a
    // GetManagedObjects (which also activates the registry when it is not running).
    void whenSynced(Done then);

    // Manager
    void defineXml(const std::string& xml, Then<std::string> done);
    void createXml(const std::string& xml, Then<std::string> done);
    void getCapabilities(Then<std::string> done);
    // Manager.GetAllStats: every domain's GetStats within `deadline`, whatever the shims do.
    using AllStats = std::map<sdbus::ObjectPath, PropertyMap>;
    void getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done);
    // Domain methods of the shape M(a{sv} options) -> (): Start, Shutdown, Destroy,
    // Undefine, Reboot, Reset, Suspend, Resume.
    void domainAction(const std::string& path, const std::string& method,
                      std::chrono::milliseconds timeout, Done done);
    void getXml(const std::string& path, bool inactive, Then<std::string> done);
    void setAutostart(const std::string& path, bool autostart, Done done);
    void getStats(const std::string& path, Then<PropertyMap> done);
    // AttachDevice / DetachDevice (s xml, a{sv} options{"config": b}).
    void changeDevice(const std::string& path, const std::string& method, const std::string& xml,
                      bool config, Done done);
    void openConsole(const std::string& path, const std::string& device, Then<sdbus::UnixFd> done);

private:
    using ReplyHandler = std::function<void(const sdbus::Error*, sdbus::MethodReply*)>;
    struct ProxySlot {
        std::unique_ptr<sdbus::IProxy> proxy;
        int pending = 0;
    };

    void call(const std::string& path, const std::string& interface, const std::string& method,
              std::chrono::milliseconds timeout,
              const std::function<void(sdbus::MethodCall&)>& fill, ReplyHandler handler);
    template <typename T>
    void callReturning(const std::string& path, const std::string& interface,
                       const std::string& method, std::chrono::milliseconds timeout,
                       const std::function<void(sdbus::MethodCall&)>& fill, Then<T> done);
    void released(const std::string& path);
    void scheduleHousekeeping();

    void startSync();
    void finishSync(Result<void> outcome);
    void onRegistrySignal(sdbus::Message& message);
    void onNameOwnerChanged(sdbus::Message& message);
    void applyInterfacesAdded(sdbus::Message& message);
    void applyInterfacesRemoved(sdbus::Message& message);
    void applyPropertiesChanged(sdbus::Message& message);
    void applyDomainEvent(sdbus::Message& message);

    sdbus::IConnection& m_bus;
    EventLoop& m_loop;
    DomainCache m_cache;
    std::map<std::string, ProxySlot> m_proxies;
    std::vector<sdbus::Slot> m_matches;
    std::function<void(const DomainEventSignal&)> m_onEvent;
    // The unique name of the registry instance the cache mirrors; signals from anyone else
    // are ignored (any peer may emit a signal with our paths).
    std::string m_owner;
    bool m_synced = false;
    bool m_syncing = false;
    std::vector<Done> m_waiters;
    std::vector<std::string> m_idleProxies;
    std::vector<std::pair<ReplyHandler, sdbus::Error>> m_failedSends;
    EventSource m_housekeeping;
    Lifetime m_lifetime;
};

} // namespace virtswarm::bridge
