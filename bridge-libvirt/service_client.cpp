// SPDX-License-Identifier: LGPL-2.1-or-later
// Calls to a swarm service: one proxy per object path while calls on it are pending, every
// call asynchronous with a timeout, and every call completed exactly once (also when it
// could not even be sent).
#include "service_client.hpp"

#include "virtswarm/log.hpp"

namespace virtswarm::bridge {
namespace {

uint64_t usec(std::chrono::milliseconds timeout) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
}

} // namespace

ServiceClient::ServiceClient(sdbus::IConnection& bus, EventLoop& loop, ServiceNames names)
    : m_bus(bus)
    , m_loop(loop)
    , m_names(std::move(names)) {}

ServiceClient::~ServiceClient() {
    m_housekeeping.reset();
    m_matches.clear();
    // Pending calls die with their proxies; their callbacks never run.
    m_proxies.clear();
}

void ServiceClient::call(const std::string& path, const std::string& interface,
                         const std::string& method, std::chrono::milliseconds timeout,
                         const Fill& fill, ReplyHandler handler) {
    auto& slot = m_proxies[path];
    try {
        if (!slot.proxy) {
            slot.proxy = sdbus::createProxy(m_bus, m_names.busName, path);
        }
        auto message = slot.proxy->createMethodCall(interface, method);
        fill(message);
        auto guard = m_lifetime.guard();
        slot.proxy->callMethod(
            message,
            [this, guard, path, handler](sdbus::MethodReply& reply, const sdbus::Error* error) {
                if (!guard.alive()) {
                    return;
                }
                try {
                    handler(error, error == nullptr ? &reply : nullptr);
                } catch (const std::exception& e) {
                    log::error("reply handler of a call to " + m_names.description +
                               " failed: " + std::string(e.what()));
                }
                released(path);
            },
            usec(timeout));
        ++slot.pending;
    } catch (const sdbus::Error& e) {
        // Sending failed (bus gone, bad arguments): complete asynchronously all the same,
        // so callers see one behaviour.
        if (slot.pending == 0) {
            m_proxies.erase(path);
        }
        m_failedSends.emplace_back(handler, e);
        scheduleHousekeeping();
    }
}

void ServiceClient::callVoid(const std::string& path, const std::string& interface,
                             const std::string& method, std::chrono::milliseconds timeout,
                             const Fill& fill, Done done) {
    call(path, interface, method, timeout, fill,
         [done](const sdbus::Error* error, sdbus::MethodReply*) {
             done(error != nullptr ? Result<void>(fromDBusError(*error)) : success());
         });
}

// Work that must not run inside a proxy's own callback or a caller's stack: dropping idle
// proxies and completing calls that could not be sent. One timer this object owns, rather
// than EventLoop::defer(), so nothing is left pending when the client goes away.
void ServiceClient::scheduleHousekeeping() {
    if (m_housekeeping) {
        return;
    }
    m_housekeeping = m_loop.addTimer(std::chrono::microseconds(0), [this] {
        m_housekeeping.reset();
        auto idle = std::move(m_idleProxies);
        m_idleProxies.clear();
        for (const auto& path : idle) {
            auto slot = m_proxies.find(path);
            if (slot != m_proxies.end() && slot->second.pending == 0) {
                m_proxies.erase(slot);
            }
        }
        auto failed = std::move(m_failedSends);
        m_failedSends.clear();
        for (auto& [handler, error] : failed) {
            handler(&error, nullptr);
        }
    });
}

void ServiceClient::released(const std::string& path) {
    auto it = m_proxies.find(path);
    if (it == m_proxies.end() || --it->second.pending > 0) {
        return;
    }
    // Not here: this runs inside the proxy's own callback.
    m_idleProxies.push_back(path);
    scheduleHousekeeping();
}

std::optional<LifecycleSignal> readLifecycleSignal(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::string name, uuid;
    int32_t event = 0, detail = 0;
    message >> path >> name >> uuid >> event >> detail;
    auto parsed = parseUuid(uuid);
    if (!parsed) {
        return std::nullopt;
    }
    return LifecycleSignal{path, name, parsed.value(), event, detail};
}

} // namespace virtswarm::bridge
