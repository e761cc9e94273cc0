// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-networkd: virtual networks and TAP devices on org.virtswarm.Network1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

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
    auto runtime = DaemonRuntime::start(mode, paths);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    network::NetworkRegistry registry(daemon.bus(), daemon.loop(), mode, paths);
    network::ManagerObject manager(registry);
    registry.start([&] { daemon.claimName(names::kNetworkBusName); });
    // Networks stay up when networkd exits: bridges, dnsmasq and the firewall table are
    // re-adopted by the next networkd, so running VMs keep their connectivity.
    return daemon.run();
}
