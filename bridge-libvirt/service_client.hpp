// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/retry_budget.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

// The bridge's side of one swarm service on D-Bus (the registry, networkd): every method is
// called asynchronously with a timeout, never synchronously from a handler; one ObjectMirror
// per object interface (a service may serve several kinds: pools and volumes) follows the
// service's ObjectManager and PropertiesChanged; the Manager's other signals go to the
// handlers registered by member. Only signals of the instance the mirrors were filled from
// count, and when the service's name changes owner the mirrors are dropped and filled again.
namespace virtswarm::bridge {

struct ServiceNames {
    std::string busName;          // e.g. org.virtswarm.Hypervisor1
    std::string rootPath;         // the Manager and the ObjectManager
    std::string managerInterface; // its signals go to the signal handlers
    std::string description;      // "the hypervisor registry", for messages
};

// A Manager's lifecycle signal (DomainEvent, NetworkEvent: o path, s name, s uuid,
// i event, i detail) as a LifecycleSignal; nothing for a malformed UUID.
std::optional<LifecycleSignal> readLifecycleSignal(sdbus::Message& message);

// A method's object path result as the string the caches are keyed by.
inline Result<std::string> pathResult(Result<sdbus::ObjectPath> r) {
    return r ? Result<std::string>(std::string(r.value())) : Result<std::string>(r.takeError());
}

class ServiceClient {
public:
    using Done = std::function<void(Result<void>)>;
    template <typename T> using Then = std::function<void(Result<T>)>;
    using Fill = std::function<void(sdbus::MethodCall&)>;
    using ReplyHandler = std::function<void(const sdbus::Error*, sdbus::MethodReply*)>;
    // A signal of the Manager interface other than the ObjectManager's.
    using SignalHandler = std::function<void(sdbus::Message&)>;

    static constexpr std::chrono::milliseconds kCallTimeout{30000};

    ServiceClient(sdbus::IConnection& bus, EventLoop& loop, ServiceNames names);
    ~ServiceClient();
    ServiceClient(const ServiceClient&) = delete;
    ServiceClient& operator=(const ServiceClient&) = delete;

    // Before start(): the objects with `interface` are mirrored into `mirror`.
    void addMirror(const std::string& interface, ObjectMirror& mirror) {
        m_mirrors[interface] = &mirror;
    }
    // The Manager's signal `member` goes to `handler`.
    void onSignal(const std::string& member, SignalHandler handler) {
        onSignal(m_names.managerInterface, member, std::move(handler));
    }
    // The signal `member` of `interface`, from any object of the service (a storage job's
    // Completed), goes to `handler`.
    void onSignal(const std::string& interface, const std::string& member, SignalHandler handler) {
        m_onSignal[{interface, member}] = std::move(handler);
    }
    // `handler` runs whenever the service's name changes owner (the instance followed is
    // gone), after the mirrors were cleared.
    void onOwnerChanged(std::function<void()> handler) {
        m_onOwnerChanged.push_back(std::move(handler));
    }

    // Installs the signal matches (at start-up: adding a match waits for the bus). With
    // `syncNow` the first synchronisation starts at once (activating the service); otherwise
    // on the first whenSynced, so a service nobody asks about is never started.
    Result<void> start(bool syncNow);

    // Runs `then` once the mirror reflects the service: at once if it does, or after a
    // GetManagedObjects (which also activates the service when it is not running).
    void whenSynced(Done then);

    const ServiceNames& names() const { return m_names; }

    void call(const std::string& path, const std::string& interface, const std::string& method,
              std::chrono::milliseconds timeout, const Fill& fill, ReplyHandler handler);
    // A method without results.
    void callVoid(const std::string& path, const std::string& interface, const std::string& method,
                  std::chrono::milliseconds timeout, const Fill& fill, Done done);
    // A method with one result of type T.
    template <typename T>
    void callReturning(const std::string& path, const std::string& interface,
                       const std::string& method, std::chrono::milliseconds timeout,
                       const Fill& fill, Then<T> done) {
        call(path, interface, method, timeout, fill,
             [done, method](const sdbus::Error* error, sdbus::MethodReply* reply) {
                 if (error != nullptr) {
                     done(fromDBusError(*error));
                     return;
                 }
                 T value{};
                 try {
                     *reply >> value;
                 } catch (const sdbus::Error& e) {
                     done(Error(Code::Internal,
                                "unexpected reply to " + method + ": " + e.getMessage()));
                     return;
                 }
                 done(std::move(value));
             });
    }

private:
    struct ProxySlot {
        std::unique_ptr<sdbus::IProxy> proxy;
        int pending = 0;
    };

    void released(const std::string& path);
    void scheduleHousekeeping();

    // service_sync.cpp
    void startSync();
    Result<bool> mirrorReply(sdbus::MethodReply& reply);
    // The service answered from another instance than the one we follow: ask again, with
    // backoff and a bound, then give up until the next caller asks.
    void retrySync();
    void finishSync(Result<void> outcome);
    void onServiceSignal(sdbus::Message& message);
    void onNameOwnerChanged(sdbus::Message& message);
    void applyInterfacesAdded(sdbus::Message& message);
    void applyInterfacesRemoved(sdbus::Message& message);
    void applyPropertiesChanged(sdbus::Message& message);
    ObjectMirror* mirrorOf(const std::string& interface) const;
    void clearMirrors();
    size_t mirroredObjects() const;

    sdbus::IConnection& m_bus;
    EventLoop& m_loop;
    ServiceNames m_names;
    std::map<std::string, ObjectMirror*> m_mirrors;                          // by interface
    std::map<std::pair<std::string, std::string>, SignalHandler> m_onSignal; // by interface, member
    std::vector<std::function<void()>> m_onOwnerChanged;
    std::map<std::string, ProxySlot> m_proxies;
    std::vector<sdbus::Slot> m_matches;
    // The unique name of the service instance the mirror reflects; signals from anyone else
    // are ignored (any peer may emit a signal with our paths).
    std::string m_owner;
    bool m_wanted = false; // someone asked: follow the service from now on
    bool m_synced = false;
    bool m_syncing = false;
    std::vector<Done> m_waiters;
    RetryBudget m_resyncs{
        {5, std::chrono::seconds(60), std::chrono::milliseconds(100), std::chrono::seconds(2)}};
    EventSource m_resyncTimer;
    std::vector<std::string> m_idleProxies;
    std::vector<std::pair<ReplyHandler, sdbus::Error>> m_failedSends;
    EventSource m_housekeeping;
    Lifetime m_lifetime;
};

} // namespace virtswarm::bridge
