// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-logd: the domains' log files on org.virtswarm.Log1.
#include "log_service.hpp"
#include "logd_config.hpp"
#include "manager_object.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/service/reexec.hpp"

#include <unistd.h>

using namespace virtswarm;

namespace {

// How the re-executed image learns where its predecessor's state is.
constexpr const char* kStateVariable = "VIRTSWARM_LOGD_STATE_FD";

enum class Ending { Exit, Reexec };

Result<log_daemon::LogdConfig> loadConfig(const DaemonPaths& paths) {
    std::string file = paths.configDir + "/logd.conf";
    if (::access(file.c_str(), F_OK) != 0) {
        return log_daemon::LogdConfig{};
    }
    auto text = readFile(file, 64 * 1024);
    if (!text) {
        return text.takeError();
    }
    return log_daemon::parseLogdConfig(text.value());
}

// One life of the daemon. On a re-exec the pipes are handed over before the service goes,
// and the state passed (service::passState) names them for the next image.
Ending serve(BusMode mode, int& exitCode) {
    DaemonPaths paths = daemonPaths("log", mode);
    auto runtime = DaemonRuntime::start(mode, paths);
    auto config = loadConfig(paths);
    if (!runtime || !config) {
        log::error(!runtime ? runtime.error().message() : config.error().message());
        exitCode = 1;
        return Ending::Exit;
    }
    DaemonRuntime& daemon = runtime.value();
    // The logs live where the shims always wrote them.
    std::string logDir = daemonPaths("hypervisor", mode).logDir;
    if (auto r = makeDirectories(logDir, mode == BusMode::System ? 0755 : 0700); !r) {
        log::error(r.error().message());
        exitCode = 1;
        return Ending::Exit;
    }
    log_daemon::LogService service(daemon.bus(), daemon.loop(), mode, config.value(), logDir);
    if (auto inherited = service::takeState(kStateVariable); !inherited) {
        log::error("the previous image's streams are lost: " + inherited.error().message());
    } else if (inherited.value()) {
        if (auto r = service.adopt(*inherited.value()); !r) {
            log::error("the previous image's streams are lost: " + r.error().message());
        }
    }
    virtswarm::service::ReexecRequest reexec(daemon, names::kLogBusName);
    log_daemon::ManagerObject manager(service, [&reexec] { reexec.request(); });
    if (auto r = daemon.takeName(names::kLogBusName); !r) {
        // Another logd has the name: one that a call activated while this image
        // re-executed. It gets the streams, which would otherwise end with this process.
        log::error(r.error().message());
        service.handTo(names::kLogBusName);
        exitCode = 1;
        return Ending::Exit;
    }
    exitCode = daemon.run();
    if (!reexec.requested()) {
        return Ending::Exit;
    }
    auto state = service.handOver();
    if (auto passed =
            state ? service::passState(kStateVariable, state.value()) : Result<void>(state.error());
        !passed) {
        log::error(passed.error().message());
        return Ending::Exit;
    }
    return Ending::Reexec;
}

} // namespace

int main(int argc, char** argv) {
    service::blockReexecSignal();

    log::init("virtswarm-logd");
    service::Reexec reexec(argc, argv);
    auto mode = busModeArguments(argc, argv, BusMode::System);
    if (!mode) {
        log::error("usage: virtswarm-logd [--system | --session]");
        return 2;
    }
    int exitCode = 0;
    if (serve(mode.value(), exitCode) == Ending::Reexec) {
        Error failed = reexec.exec();
        log::error(failed.message());
        return 1;
    }
    return exitCode;
}
