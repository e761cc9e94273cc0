// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "service_client.hpp"

#include <chrono>
#include <functional>
#include <string>

// One object kind's side of its service: the cache of its objects (fed by the service's
// ObjectManager and PropertiesChanged), its lifecycle signal handed to an event handler, and
// the methods every kind of the swarm has (Manager.DefineXML/CreateXML, GetXML,
// SetAutostart, actions taking only options), called asynchronously with timeouts.
//
// `Kind` describes the kind (domain_cache.hpp, network_cache.hpp): `Object`, `Cache`,
// kBus (an ObjectBus) and kProperties. A service with several kinds (storage pools and
// volumes) has one ServiceClient and one ObjectClient per kind on it.
namespace virtswarm::bridge {

template <typename Kind> ServiceNames serviceNamesOf() {
    return ServiceNames{Kind::kBus.busName, Kind::kBus.rootPath, Kind::kBus.managerInterface,
                        Kind::kBus.description};
}

template <typename Kind> class ObjectClient {
public:
    using Cache = typename Kind::Cache;
    using Event = KindEvent<Kind>;
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    static constexpr std::chrono::milliseconds kCallTimeout = ServiceClient::kCallTimeout;

    explicit ObjectClient(ServiceClient& service)
        : m_service(service) {
        service.addMirror(Kind::kBus.interface, m_cache);
        if (Kind::kBus.eventSignal == nullptr) {
            return; // a kind without lifecycle events (storage volumes)
        }
        service.onSignal(Kind::kBus.eventSignal, [this](sdbus::Message& message) {
            if (auto signal = readLifecycleSignal(message); signal && m_onEvent) {
                m_onEvent(Event{*signal});
            }
        });
    }
    ObjectClient(const ObjectClient&) = delete;
    ObjectClient& operator=(const ObjectClient&) = delete;

    void setEventHandler(std::function<void(const Event&)> handler) {
        m_onEvent = std::move(handler);
    }

    const Cache& cache() const { return m_cache; }
    // Runs `then` once the cache mirrors the service: at once if it does, or after a
    // GetManagedObjects (which also activates the service when it is not running).
    void whenSynced(Done then) { m_service.whenSynced(std::move(then)); }

    // Manager.DefineXML or Manager.CreateXML (s xml, a{sv} options) -> o: the object's path.
    void defineOrCreate(const char* method, const std::string& xml, Options options,
                        std::chrono::milliseconds timeout, Then<std::string> done) {
        m_service.callReturning<sdbus::ObjectPath>(
            Kind::kBus.rootPath, Kind::kBus.managerInterface, method, timeout,
            [&xml, &options](sdbus::MethodCall& m) { m << xml << options; },
            [done = std::move(done)](Result<sdbus::ObjectPath> r) {
                done(pathResult(std::move(r)));
            });
    }
    // GetXML (a{sv} options) -> s
    void getXml(const std::string& path, Options options, Then<std::string> done) {
        call<std::string>(
            path, "GetXML", kCallTimeout, [&options](sdbus::MethodCall& m) { m << options; },
            std::move(done));
    }
    // SetAutostart (b autostart, a{sv} options)
    void setAutostart(const std::string& path, bool autostart, Done done) {
        m_service.callVoid(
            path, Kind::kBus.interface, "SetAutostart", kCallTimeout,
            [autostart](sdbus::MethodCall& m) { m << autostart << Options{}; }, std::move(done));
    }
    // A method of the shape M(a{sv} options) -> () (Start, Destroy, Undefine, ...).
    void action(const std::string& path, const std::string& method,
                std::chrono::milliseconds timeout, Options options, Done done) {
        m_service.callVoid(
            path, Kind::kBus.interface, method, timeout,
            [&options](sdbus::MethodCall& m) { m << options; }, std::move(done));
    }
    // An action after which the service removes the object (a transient one stopped, an
    // undefined one inactive) only after replying: the cache forgets it at once when
    // `gone(object)` holds, so that the client's next call (a list right after a destroy)
    // does not see it.
    void actionThenForget(const std::string& path, const std::string& method,
                          std::chrono::milliseconds timeout,
                          bool (*gone)(const typename Kind::Object&), Done done) {
        action(path, method, timeout, {}, [this, path, gone, done](Result<void> r) {
            if (const auto* o = m_cache.byPath(path); r && o != nullptr && gone(*o)) {
                m_cache.remove(path);
            }
            done(std::move(r));
        });
    }
    // Any other method of the object's interface with one result of type T.
    template <typename T>
    void call(const std::string& path, const std::string& method, std::chrono::milliseconds timeout,
              const ServiceClient::Fill& fill, Then<T> done) {
        m_service.callReturning<T>(path, Kind::kBus.interface, method, timeout, fill,
                                   std::move(done));
    }

protected:
    ServiceClient& service() { return m_service; }
    Cache m_cache;

private:
    ServiceClient& m_service;
    std::function<void(const Event&)> m_onEvent;
};

// For a client that is the only one on its service (the registry, networkd): the
// ServiceClient it owns, constructed before the ObjectClient base that uses it.
struct OwnedService {
    OwnedService(sdbus::IConnection& bus, EventLoop& loop, ServiceNames names)
        : ownService(bus, loop, std::move(names)) {}
    ServiceClient ownService;
};

} // namespace virtswarm::bridge
