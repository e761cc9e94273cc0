// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry_client.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

namespace virtswarm::bridge {
namespace {

constexpr const char* kManagerInterface = "org.virtswarm.Hypervisor1.Manager";
uint64_t usec(std::chrono::milliseconds timeout) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
}

Error replyError(const sdbus::Error* error) {
    return fromDBusError(*error);
}

} // namespace

RegistryClient::RegistryClient(sdbus::IConnection& bus, EventLoop& loop)
    : m_bus(bus)
    , m_loop(loop) {}

RegistryClient::~RegistryClient() {
    m_housekeeping.reset();
    m_matches.clear();
    // Pending calls die with their proxies; their callbacks never run.
    m_proxies.clear();
}

// ------------------------------------------------------------------ calls

void RegistryClient::call(const std::string& path, const std::string& interface,
                          const std::string& method, std::chrono::milliseconds timeout,
                          const std::function<void(sdbus::MethodCall&)>& fill,
                          ReplyHandler handler) {
    auto& slot = m_proxies[path];
    try {
        if (!slot.proxy) {
            slot.proxy = sdbus::createProxy(m_bus, names::kHypervisorBusName, path);
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
                    log::error("reply handler of a registry call failed: " + std::string(e.what()));
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

// Work that must not run inside a proxy's own callback or a caller's stack: dropping idle
// proxies and completing calls that could not be sent. One timer this object owns, rather
// than EventLoop::defer(), so nothing is left pending when the client goes away.
void RegistryClient::scheduleHousekeeping() {
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

void RegistryClient::released(const std::string& path) {
    auto it = m_proxies.find(path);
    if (it == m_proxies.end() || --it->second.pending > 0) {
        return;
    }
    // Not here: this runs inside the proxy's own callback.
    m_idleProxies.push_back(path);
    scheduleHousekeeping();
}

template <typename T>
void RegistryClient::callReturning(const std::string& path, const std::string& interface,
                                   const std::string& method, std::chrono::milliseconds timeout,
                                   const std::function<void(sdbus::MethodCall&)>& fill,
                                   Then<T> done) {
    call(path, interface, method, timeout, fill,
         [done, method](const sdbus::Error* error, sdbus::MethodReply* reply) {
             if (error != nullptr) {
                 done(replyError(error));
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

void RegistryClient::defineXml(const std::string& xml, Then<std::string> done) {
    callReturning<sdbus::ObjectPath>(
        names::kHypervisorRootPath, kManagerInterface, "DefineXML", kCallTimeout,
        [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done](Result<sdbus::ObjectPath> r) {
            done(r ? Result<std::string>(std::string(r.value()))
                   : Result<std::string>(r.takeError()));
        });
}

void RegistryClient::createXml(const std::string& xml, Then<std::string> done) {
    callReturning<sdbus::ObjectPath>(
        names::kHypervisorRootPath, kManagerInterface, "CreateXML", kStartTimeout,
        [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done](Result<sdbus::ObjectPath> r) {
            done(r ? Result<std::string>(std::string(r.value()))
                   : Result<std::string>(r.takeError()));
        });
}

void RegistryClient::getCapabilities(Then<std::string> done) {
    callReturning<std::string>(
        names::kHypervisorRootPath, kManagerInterface, "GetCapabilities", kCallTimeout,
        [](sdbus::MethodCall&) {}, std::move(done));
}

void RegistryClient::getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done) {
    callReturning<AllStats>(
        names::kHypervisorRootPath, kManagerInterface, "GetAllStats", deadline + kCallTimeout,
        [deadline](sdbus::MethodCall& m) {
            m << Options{{"timeout", sdbus::Variant(static_cast<uint32_t>(deadline.count()))}};
        },
        std::move(done));
}

void RegistryClient::domainAction(const std::string& path, const std::string& method,
                                  std::chrono::milliseconds timeout, Done done) {
    call(
        path, DomainCache::kDomainInterface, method, timeout,
        [](sdbus::MethodCall& m) { m << Options{}; },
        [done](const sdbus::Error* error, sdbus::MethodReply*) {
            done(error != nullptr ? Result<void>(replyError(error)) : success());
        });
}

void RegistryClient::getXml(const std::string& path, bool inactive, Then<std::string> done) {
    callReturning<std::string>(
        path, DomainCache::kDomainInterface, "GetXML", kCallTimeout,
        [inactive](sdbus::MethodCall& m) {
            Options options;
            if (inactive) {
                options["inactive"] = sdbus::Variant(true);
            }
            m << options;
        },
        std::move(done));
}

void RegistryClient::setAutostart(const std::string& path, bool autostart, Done done) {
    call(
        path, DomainCache::kDomainInterface, "SetAutostart", kCallTimeout,
        [autostart](sdbus::MethodCall& m) { m << autostart << Options{}; },
        [done](const sdbus::Error* error, sdbus::MethodReply*) {
            done(error != nullptr ? Result<void>(replyError(error)) : success());
        });
}

void RegistryClient::changeDevice(const std::string& path, const std::string& method,
                                  const std::string& xml, bool config, Done done) {
    call(
        path, DomainCache::kDomainInterface, method, kCallTimeout,
        [&xml, config](sdbus::MethodCall& m) {
            Options options;
            if (config) {
                options["config"] = sdbus::Variant(true);
            }
            m << xml << options;
        },
        [done](const sdbus::Error* error, sdbus::MethodReply*) {
            done(error != nullptr ? Result<void>(replyError(error)) : success());
        });
}

void RegistryClient::getStats(const std::string& path, Then<PropertyMap> done) {
    callReturning<PropertyMap>(
        path, DomainCache::kDomainInterface, "GetStats", kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void RegistryClient::openConsole(const std::string& path, const std::string& device,
                                 Then<sdbus::UnixFd> done) {
    callReturning<sdbus::UnixFd>(
        path, DomainCache::kDomainInterface, "OpenConsole", kCallTimeout,
        [&device](sdbus::MethodCall& m) { m << device << Options{}; }, std::move(done));
}

} // namespace virtswarm::bridge
