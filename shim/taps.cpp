// SPDX-License-Identifier: LGPL-2.1-or-later
#include "taps.hpp"

#include "virtswarm/dbus_edge.hpp"

#include <fcntl.h>

namespace virtswarm::shim {
namespace {

// networkd may be activated by this very call; leave room for that.
constexpr auto kAcquireTimeout = std::chrono::seconds(20);

} // namespace

TapBroker::TapBroker(EventLoop& loop, sdbus::IConnection* systemBus)
    : m_loop(loop)
    , m_systemBus(systemBus) {}

TapBroker::~TapBroker() = default;

Result<sdbus::IProxy*> TapBroker::networkd() {
    if (m_networkd) {
        return m_networkd.get();
    }
    if (m_systemBus == nullptr) {
        auto bus = openBus(BusMode::System);
        if (!bus) {
            Error error = bus.error();
            return error.prefix("reaching virtswarm-networkd");
        }
        if (auto r = m_loop.attachBus(*bus.value()); !r) {
            return r.error();
        }
        m_ownConnection = std::move(bus).value();
        m_systemBus = m_ownConnection.get();
    }
    m_networkd =
        sdbus::createProxy(*m_systemBus, "org.virtswarm.Network1", "/org/virtswarm/Network1");
    return m_networkd.get();
}

void TapBroker::acquire(const InterfaceDef& nic, std::function<void(Result<Tap>)> done) {
    Options options{{"mac", sdbus::Variant(nic.mac)}};
    std::string network;
    if (nic.type == "bridge") {
        options.emplace("bridge", sdbus::Variant(nic.source));
    } else {
        network = nic.source;
    }
    auto proxy = networkd();
    if (!proxy) {
        m_loop.defer([done, error = proxy.error()] { done(error); });
        return;
    }
    auto guard = m_lifetime.guard();
    try {
        proxy.value()
            ->callMethodAsync("AcquireTap")
            .onInterface("org.virtswarm.Network1.Manager")
            .withTimeout(kAcquireTimeout)
            .withArguments(network, options)
            .uponReplyInvoke([guard, done, source = nic.source](
                                 const sdbus::Error* error, sdbus::UnixFd fd, std::string ifname) {
                if (!guard.alive()) {
                    return;
                }
                if (error != nullptr) {
                    Error e = fromDBusError(*error);
                    done(e.prefix("TAP on '" + source + "'"));
                    return;
                }
                // UnixFd owns its copy; keep one of our own past its lifetime.
                done(Tap{fcntl(fd.get(), F_DUPFD_CLOEXEC, 3), ifname});
            });
    } catch (const sdbus::Error& e) {
        done(Error(Code::OperationFailed, "cannot reach virtswarm-networkd: " + e.getMessage()));
    }
}

} // namespace virtswarm::shim
