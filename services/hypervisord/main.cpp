// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-hypervisord: the hypervisor registry on org.virtswarm.Hypervisor1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
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
    if (auto r = createDaemonPaths(config.paths, mode); !r) {
        log::error(r.error().message());
        return 1;
    }

    auto loop = EventLoop::create();
    if (!loop) {
        log::error(loop.error().message());
        return 1;
    }
    loop.value()->exitOnTermination();

    // Objects are exported before the name is taken, so a caller that activated us finds
    // them the moment the bus delivers its queued message.
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

    hypervisor::Registry registry(connection, *loop.value(), config);
    hypervisor::ManagerObject manager(registry);
    int exitCode = 0;
    auto started = registry.start([&] {
        try {
            connection.requestName(names::kHypervisorBusName);
            log::notice(std::string("ready on the ") + busModeName(mode) + " bus as " +
                        names::kHypervisorBusName);
        } catch (const sdbus::Error& e) {
            log::error("cannot own " + std::string(names::kHypervisorBusName) + ": " +
                       e.getMessage());
            exitCode = 1;
            loop.value()->exit(1);
        }
    });
    if (!started) {
        log::error(started.error().message());
        return 1;
    }
    int r = loop.value()->run();
    return exitCode != 0 ? exitCode : (r < 0 ? 1 : r);
}
