// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-nwfilterd: libvirt's network filters, compiled to nftables, on
// org.virtswarm.NWFilter1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

using namespace virtswarm;

int main(int argc, char** argv) {
    log::init("virtswarm-nwfilterd");
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--system") {
            log::error("usage: virtswarm-nwfilterd [--system] (system bus only: it needs root)");
            return 2;
        }
    }
    // Filters are the host's firewall: nwfilterd exists only on the system bus.
    constexpr BusMode mode = BusMode::System;
    DaemonPaths paths = daemonPaths("nwfilter", mode);
    auto runtime = DaemonRuntime::start(mode, paths);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    nwfilter::FilterRegistry registry(daemon.bus(), daemon.loop(), mode, paths);
    nwfilter::ManagerObject manager(registry);
    registry.start([&] { daemon.claimName(names::kNWFilterBusName); });
    // The table stays when nwfilterd exits: bound ports stay filtered, and the next
    // nwfilterd rebuilds the table from the recorded bindings.
    return daemon.run();
}
