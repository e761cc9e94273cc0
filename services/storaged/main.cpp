// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-storaged: storage pools and volumes on org.virtswarm.Storage1.
#include "manager_object.hpp"
#include "storage_service.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

using namespace virtswarm;

int main(int argc, char** argv) {
    log::init("virtswarm-storaged");
    auto arguments = busModeArguments(argc, argv, BusMode::System);
    if (!arguments) {
        log::error("usage: virtswarm-storaged [--system | --session]");
        return 2;
    }
    BusMode mode = *arguments;
    DaemonPaths paths = daemonPaths("storage", mode);
    auto runtime = DaemonRuntime::start(mode, paths);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    storage::StorageService service(daemon.bus(), daemon.loop(), mode, paths);
    storage::ManagerObject manager(service);
    // The name is taken once every pool that was running is up again, so the first caller
    // sees the whole picture. Jobs end with the daemon; what they were writing is removed
    // when the next storaged starts the pool.
    service.start([&] { daemon.claimName(names::kStorageBusName); });
    return daemon.run();
}
