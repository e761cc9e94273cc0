// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-hypervisord: the hypervisor registry on org.virtswarm.Hypervisor1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>

using namespace virtswarm;

namespace {

void usage() {
    std::cerr << "usage: virtswarm-hypervisord [--system|--session]\n";
}

// When D-Bus activated, the bus tells us which bus it is; otherwise root means system.
BusMode defaultMode() {
    const char* starter = std::getenv("DBUS_STARTER_BUS_TYPE");
    if (starter != nullptr) {
        return std::strcmp(starter, "session") == 0 ? BusMode::Session : BusMode::System;
    }
    return getuid() == 0 ? BusMode::System : BusMode::Session;
}

} // namespace

int main(int argc, char** argv) {
    log::init("virtswarm-hypervisord");
    BusMode mode = defaultMode();
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--system") {
            mode = BusMode::System;
        } else if (arg == "--session") {
            mode = BusMode::Session;
        } else {
            usage();
            return 2;
        }
    }

    hypervisor::RegistryConfig config;
    config.mode = mode;
    config.paths = daemonPaths("hypervisor", mode);
    const char* shim = std::getenv("VIRTSWARM_SHIM_PATH");
    config.shimPath = shim != nullptr ? shim : VIRTSWARM_SHIM_DEFAULT_PATH;
    auto runtime = DaemonRuntime::start(mode, config.paths);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    auto shimBus = daemon.openExtraConnection();
    if (!shimBus) {
        log::error(shimBus.error().message());
        return 1;
    }
    hypervisor::Registry registry(daemon.bus(), *shimBus.value(), daemon.loop(), config);
    hypervisor::ManagerObject manager(registry);
    auto started = registry.start([&] { daemon.claimName(names::kHypervisorBusName); });
    if (!started) {
        log::error(started.error().message());
        return 1;
    }
    return daemon.run();
}
