// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-hypervisord: the hypervisor registry on org.virtswarm.Hypervisor1.
#include "manager_object.hpp"
#include "registry.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/domain_def_canonical.hpp"
#include "virtswarm/emulator_query.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <charconv>
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

// A positive number; anything else is refused rather than silently replaced.
Result<unsigned> parseAutostartParallel(std::string_view text) {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0) {
        return Error(Code::InvalidArgs, "VIRTSWARM_AUTOSTART_PARALLEL='" + std::string(text) +
                                            "' is not a positive number");
    }
    return n;
}

} // namespace

int main(int argc, char** argv) {
    log::init("virtswarm-hypervisord");
    auto arguments = busModeArguments(argc, argv, defaultMode());
    if (!arguments) {
        usage();
        return 2;
    }
    BusMode mode = *arguments;

    hypervisor::RegistryConfig config;
    config.mode = mode;
    config.paths = daemonPaths("hypervisor", mode);
    const char* shim = std::getenv("VIRTSWARM_SHIM_PATH");
    config.shimPath = shim != nullptr ? shim : VIRTSWARM_SHIM_DEFAULT_PATH;
    if (const char* parallel = std::getenv("VIRTSWARM_AUTOSTART_PARALLEL")) {
        auto n = parseAutostartParallel(parallel);
        if (!n) {
            log::error(n.error().message());
            return 2;
        }
        config.autostartParallel = n.value();
    }
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
    // The definitions are loaded (and so put in libvirt's canonical form) once QEMU has
    // said which machine types its aliases stand for: asked in a child process the loop
    // watches, so nothing waits on it. Without an answer the machine types stay as written.
    EmulatorQuery machineTypes(daemon.loop(), kDefaultEmulator, {"-machine", "help"});
    machineTypes.get([&](Result<std::string> help) {
        if (help) {
            setMachineAliases(parseMachineHelp(help.value()));
        } else {
            log::warning("machine types stay as written: " + help.error().message());
        }
        auto started = registry.start([&] { daemon.claimName(names::kHypervisorBusName); });
        if (!started) {
            log::error(started.error().message());
            daemon.loop().exit(1);
        }
    });
    return daemon.run();
}
