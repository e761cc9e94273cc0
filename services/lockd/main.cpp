// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-lockd: leases on disk images on org.virtswarm.Lock1.
#include "lock_service.hpp"
#include "manager_object.hpp"
#include "reexec.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <csignal>

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
    Ending ending = Ending::Exit;
    auto reexec = [&] {
        log::notice("re-executing");
        // The name goes first: a call sent from now on (after Reexec's reply, too) waits
        // in the bus for the name's next owner, the new image, instead of reaching this
        // connection after its last dispatch. (Calls the bus delivered here before this
        // point and not yet read are answered by the bus with NoReply.)
        try {
            daemon.bus().releaseName(names::kLockBusName);
        } catch (const sdbus::Error& e) {
            log::warning("releasing the name before the re-exec: " + e.getMessage());
        }
        ending = Ending::Reexec;
        daemon.loop().exit(0);
    };
    lock::ManagerObject manager(service, reexec);
    EventSource usr1 = daemon.loop().addSignal(SIGUSR1, reexec);
    // The table is complete before the name is taken; holders are checked only once the
    // name is ours, so a lockd that loses the race for it has changed nothing.
    if (daemon.claimName(names::kLockBusName)) {
        service.reconcile();
    }
    exitCode = daemon.run();
    return ending;
}

} // namespace

int main(int argc, char** argv) {
    // Before anything else: SIGUSR1 (re-exec) is read by the loop, and must not kill us
    // while it is not yet set up. A re-executed image inherits the mask.
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, nullptr);

    log::init("virtswarm-lockd");
    lock::Reexec reexec(argc, argv);
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
