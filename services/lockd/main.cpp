// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-lockd: leases on disk images on org.virtswarm.Lock1.
#include "lock_service.hpp"
#include "manager_object.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/service/reexec.hpp"

using namespace virtswarm;

namespace {

enum class Ending { Exit, Reexec };

// One life of the daemon, from loading the table to the end of the loop. Everything is
// torn down when it returns (the bus connection flushed and closed), so a re-exec starts
// from a clean process.
Ending serve(BusMode mode, int& exitCode) {
    DaemonPaths paths = daemonPaths("lock", mode);
    auto runtime = DaemonRuntime::start(mode, paths);
    if (!runtime) {
        log::error(runtime.error().message());
        exitCode = 1;
        return Ending::Exit;
    }
    DaemonRuntime& daemon = runtime.value();
    lock::LockService service(daemon.bus(), daemon.loop(), mode, paths);
    if (auto r = service.load(); !r) {
        log::error(r.error().message());
        exitCode = 1;
        return Ending::Exit;
    }
    virtswarm::service::ReexecRequest reexec(daemon, names::kLockBusName);
    lock::ManagerObject manager(service, [&reexec] { reexec.request(); });
    // The table is complete before the name is taken; holders are checked only once the
    // name is ours, so a lockd that loses the race for it has changed nothing.
    if (daemon.claimName(names::kLockBusName)) {
        service.reconcile();
    }
    exitCode = daemon.run();
    return reexec.requested() ? Ending::Reexec : Ending::Exit;
}

} // namespace

int main(int argc, char** argv) {
    service::blockReexecSignal();

    log::init("virtswarm-lockd");
    service::Reexec reexec(argc, argv);
    BusMode mode = BusMode::System;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--system") {
            mode = BusMode::System;
        } else if (arg == "--session") {
            mode = BusMode::Session;
        } else {
            log::error("usage: virtswarm-lockd [--system | --session]");
            return 2;
        }
    }
    int exitCode = 0;
    if (serve(mode, exitCode) == Ending::Reexec) {
        Error failed = reexec.exec();
        log::error(failed.message());
        return 1;
    }
    return exitCode;
}
