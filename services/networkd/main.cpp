// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-networkd: virtual networks and TAP devices on org.virtswarm.Network1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/log.hpp"

using namespace virtswarm;

int main(int argc, char** argv) {
    log::init("virtswarm-networkd");
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--system") {
            log::error("usage: virtswarm-networkd [--system] (system bus only: it needs root)");
            return 2;
        }
    }
    // Networking is privileged: networkd exists only on the system bus, and serves
    // session-mode users there (AcquireTap after a polkit check).
    constexpr BusMode mode = BusMode::System;
    DaemonPaths paths = daemonPaths("network", mode);
    if (auto r = createDaemonPaths(paths, mode); !r) {
        log::error(r.error().message());
        return 1;
    }
    auto loop = EventLoop::create();
    if (!loop) {
        log::error(loop.error().message());
        return 1;
    }
    loop.value()->exitOnTermination();
    auto bus = openBus(mode);
    if (!bus) {
        log::error(bus.error().message());
        return 1;
    }
    sdbus::IConnection& connection = *bus.value();
    if (auto r = loop.value()->attachBus(connection); !r) {
        log::error(r.error().message());
        return 1;
    }
    network::NetworkRegistry registry(connection, *loop.value(), mode, paths);
    network::ManagerObject manager(registry);
    int exitCode = 0;
    registry.start([&] {
        try {
            connection.requestName("org.virtswarm.Network1");
            log::notice("ready on the system bus as org.virtswarm.Network1");
        } catch (const sdbus::Error& e) {
            log::error("cannot own org.virtswarm.Network1: " + e.getMessage());
            exitCode = 1;
            loop.value()->exit(1);
        }
    });
    int r = loop.value()->run();
    // Networks stay up when networkd exits: bridges, dnsmasq and the firewall table are
    // re-adopted by the next networkd, so running VMs keep their connectivity.
    return exitCode != 0 ? exitCode : (r < 0 ? 1 : r);
}
