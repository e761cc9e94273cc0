// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-nodedevd: host devices on org.virtswarm.NodeDevice1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <cstdlib>

using namespace virtswarm;

int main(int argc, char** argv) {
    log::init("virtswarm-nodedevd");
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--system") {
            log::error("usage: virtswarm-nodedevd [--system] (system bus only: it needs root)");
            return 2;
        }
    }
    // Host devices are the host's: nodedevd exists only on the system bus, and session
    // users reach it there through polkit.
    constexpr BusMode mode = BusMode::System;
    // VIRTSWARM_SYSFS_ROOT: another sysfs tree (the tests' fake one); /sys otherwise.
    const char* root = std::getenv("VIRTSWARM_SYSFS_ROOT");
    std::string sysfsRoot = root != nullptr && *root != '\0' ? root : "/sys";
    DaemonPaths paths = daemonPaths("nodedev", mode);
    auto runtime = DaemonRuntime::start(mode, paths);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    nodedev::DeviceRegistry registry(daemon.bus(), daemon.loop(), mode, sysfsRoot);
    nodedev::ManagerObject manager(registry);
    registry.start([&] { daemon.claimName(names::kNodeDeviceBusName); });
    return daemon.run();
}
