// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-shim: one process per running domain. Owns org.virtswarm.Shim1.d<uuid>, the
// domain's QEMU and its monitor. Started by the registry, which talks to it over D-Bus.
#include "firmware_files.hpp"
#include "machine.hpp"
#include "machine_object.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/uuid.hpp"

#include <cstdlib>
#include <iostream>

using namespace virtswarm;
using virtswarm::shim::Machine;
using virtswarm::shim::MachineObject;
namespace shim = virtswarm::shim;

namespace {

struct Arguments {
    BusMode mode = BusMode::System;
    std::string uuidHex;
    std::string runtimeDir;
    bool attach = false;
    int restoreFd = -1;       // a saved guest's stream the registry opened for us
    bool paused = false;      // the guest's vCPUs stay stopped once QEMU is up
    std::string loadSnapshot; // the internal snapshot the guest starts from
};

std::optional<Arguments> parseArguments(int argc, char** argv) {
    Arguments a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--system") {
            a.mode = BusMode::System;
        } else if (arg == "--session") {
            a.mode = BusMode::Session;
        } else if (arg == "--attach") {
            a.attach = true;
        } else if (arg == "--paused") {
            a.paused = true;
        } else if (arg == "--uuid" && i + 1 < argc) {
            a.uuidHex = argv[++i];
        } else if (arg == "--restore-fd" && i + 1 < argc) {
            a.restoreFd = std::atoi(argv[++i]);
            if (a.restoreFd < 3) {
                return std::nullopt;
            }
        } else if (arg == "--load-snapshot" && i + 1 < argc) {
            a.loadSnapshot = argv[++i];
            if (!shim::Machine::checkSnapshotName(a.loadSnapshot)) {
                return std::nullopt;
            }
        } else if (arg == "--runtime-dir" && i + 1 < argc) {
            a.runtimeDir = argv[++i];
        } else {
            return std::nullopt;
        }
    }
    if (a.uuidHex.size() != 32 || a.runtimeDir.empty()) {
        return std::nullopt;
    }
    return a;
}

// The registry reads this after we are gone, to tell its client why Start failed.
void recordFailure(const ShimFiles& files, const Error& error) {
    log::error(error.message());
    (void)writeFileAtomic(files.failure, std::string(error.dbusName()) + "\n" + error.message(),
                          0600);
}

// Who defined the definition in the runtime dir, from the record the registry wrote next
// to it. A record that is missing or belongs to another XML gives nobody's rights, except
// for a QEMU started before definers were recorded (attach without a record): that one
// was started with root's rights and keeps them.
uid_t recordedDefiner(const ShimFiles& files, const std::string& xml, bool attach) {
    auto record = readFile(files.definer, 256);
    if (!record) {
        return attach ? 0 : kUnknownDefiner;
    }
    auto definer = parseDefinerRecord(record.value(), xml);
    if (!definer) {
        log::warning(definer.error().message() + ": opening host paths as nobody");
        return kUnknownDefiner;
    }
    return definer.value();
}

} // namespace

int main(int argc, char** argv) {
    auto args = parseArguments(argc, argv);
    if (!args) {
        std::cerr << "usage: virtswarm-shim [--system|--session] --uuid <32 hex> "
                     "--runtime-dir <dir> [--attach] [--restore-fd <fd>] [--paused]\n"
                     "                 [--load-snapshot <name>]\n";
        return 2;
    }
    log::init("virtswarm-shim/" + args->uuidHex.substr(0, 8));
    ShimFiles files = shimFilesIn(args->runtimeDir);

    // The registry's definition says who defined it; a re-attaching shim goes on with the
    // live definition the previous one kept (hotplugged devices, aliases), if it got that far.
    auto text = readFile(files.domainXml);
    if (!text) {
        recordFailure(files, text.error());
        return 1;
    }
    uid_t definer = recordedDefiner(files, text.value(), args->attach);
    if (args->attach) {
        if (auto live = readFile(files.liveXml)) {
            text = std::move(live);
        }
    }
    auto domain = parseDomainXml(text.value());
    if (!domain) {
        recordFailure(files, domain.error());
        return 1;
    }
    domain.value().definer = definer;
    auto opener = HostPathOpener::forDefiner(domain.value().definer);
    if (!opener) {
        recordFailure(files, opener.error());
        return 1;
    }
    // UEFI: the firmware chosen and the VM's NVRAM file created before QEMU needs them,
    // from paths the definer may read, into a path the definer may write (unless it is
    // the per-VM file in the swarm's own state dir).
    if (auto r = shim::prepareFirmwareFor(domain.value(), daemonPaths("nvram", args->mode).stateDir,
                                          opener.value());
        !r) {
        recordFailure(files, r.error());
        return 1;
    }
    std::string logDir = daemonPaths("hypervisor", args->mode).logDir;
    (void)makeDirectories(logDir, 0755);
    std::string logFile = logDir + "/" + domain.value().def.name + ".log";

    auto identity = shim::qemuIdentity(args->mode == BusMode::System);
    if (!identity) {
        recordFailure(files, identity.error());
        return 1;
    }

    auto runtime = DaemonRuntime::start(args->mode);
    if (!runtime) {
        recordFailure(files, runtime.error());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    EventLoop& loop = daemon.loop();
    sdbus::IConnection& connection = daemon.bus();

    // NICs on networks get their TAPs from networkd, on the system bus: a session-mode
    // shim connects there only when it first needs one (at boot or on hotplug).
    shim::SystemBusLink systemBus(loop, args->mode == BusMode::System ? &connection : nullptr);
    shim::TapBroker taps(systemBus);
    // Volumes come from storaged on the system bus too, decided for the domain's definer.
    shim::VolumeBroker volumes(systemBus, args->uuidHex, domain.value().definer);
    // Disk leases come from the system's lockd in both modes, as TAPs from its networkd.
    shim::DiskLeases leases(loop, systemBus, domain.value().def.uuid);

    int exitCode = 0;
    MachineObject* exported = nullptr;
    Machine::Listener listener;
    listener.stateChanged = [&](const std::string&, const std::string&) {
        if (exported != nullptr) {
            exported->announceState();
        }
    };
    listener.finished = [&] { loop.exit(exitCode); };
    listener.rebooted = [&] {
        if (exported != nullptr) {
            exported->announceReboot();
        }
    };
    listener.deviceRemoved = [&](const std::string& alias) {
        if (exported != nullptr) {
            exported->announceDeviceRemoved(alias);
        }
    };
    // QEMU's log goes through logd on the shim's own bus: the user's logd for a session
    // domain, whose log is the user's.
    shim::QemuLog qemuLog(loop, connection, formatUuid(domain.value().def.uuid),
                          domain.value().def.name, logFile);
    Machine machine(loop, files, qemuLog, std::move(domain).value(), std::move(identity).value(),
                    std::move(opener).value(), args->mode, &taps, &leases, std::move(listener));
    machine.setVolumeBroker(&volumes);
    MachineObject object(connection, machine);
    exported = &object;

    // Owning the name is the lock that keeps two shims (and so two QEMUs) from ever
    // running for one domain: the second fails here and exits before touching QEMU.
    if (auto r = daemon.takeName(names::kShimBusNamePrefix + args->uuidHex); !r) {
        recordFailure(files,
                      Error(Code::InvalidState,
                            "another shim already manages this domain: " + r.error().message()));
        return 1;
    }

    auto started = [&](Result<void> r) {
        if (!r) {
            exitCode = 1;
            recordFailure(files, r.error());
            // Still wait for QEMU to be gone (onQemuExit ends the loop), unless there is none.
            if (machine.pid() == 0) {
                loop.exit(1);
            }
        }
    };
    if (args->restoreFd >= 0) {
        machine.setRestoreFd(args->restoreFd);
    }
    machine.setStartPaused(args->paused);
    machine.setLoadSnapshot(args->loadSnapshot);
    if (args->attach) {
        machine.attach(started);
    } else {
        machine.launch(started);
    }
    // SIGTERM to the shim (DaemonRuntime ends the loop) leaves QEMU running: a new shim
    // can take it over.
    int r = daemon.run();
    return exitCode != 0 ? exitCode : r;
}
