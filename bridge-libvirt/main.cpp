// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-proxyd: the libvirt remote protocol on UNIX sockets (and optionally TCP), served
// by the swarm's D-Bus API. virsh, virt-install and python-libvirt talk to it as to libvirtd.
#include "admission.hpp"
#include "dispatcher.hpp"
#include "events.hpp"
#include "network_client.hpp"
#include "reexec_handover.hpp"
#include "registry_client.hpp"
#include "server.hpp"
#include "storage_client.hpp"
#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/emulator_query.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/reexec.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::bridge;

namespace {

struct ProxydOptions {
    BusMode mode = getuid() == 0 ? BusMode::System : BusMode::Session;
    std::string socket;
    std::string socketRo;
    bool libvirtPaths = false;
    std::string tcp;
    ServerLimits serverLimits;
    ClientLimits clientLimits;
};

constexpr size_t kMiB = 1024 * 1024;

void usage(std::ostream& out) {
    out << "usage: virtswarm-proxyd [--system|--session] [--socket PATH] [--socket-ro PATH]\n"
           "                        [--libvirt-paths] [--tcp HOST:PORT]\n"
           "  --socket PATH      read-write socket (default /run/virtswarm/libvirt-sock)\n"
           "  --socket-ro PATH   read-only socket (default /run/virtswarm/libvirt-sock-ro)\n"
           "  --libvirt-paths    listen where libvirt clients look by default:\n"
           "                     /run/libvirt/libvirt-sock and /run/libvirt/libvirt-sock-ro;\n"
           "                     with --session $XDG_RUNTIME_DIR/libvirt/libvirt-sock(-ro)\n"
           "  --tcp HOST:PORT    also listen on TCP (read-only, unauthenticated; off by default)\n"
           "Limits (docs/bridge.md; libvirtd's names where it has them):\n"
           "  --max-clients N             connections in all (1024); the last 32 are root's\n"
           "  --max-clients-per-uid N     connections of one user other than root (64)\n"
           "  --max-anonymous-clients N   of those, not yet opened (20)\n"
           "  --max-client-requests N     calls in flight per connection (16)\n"
           "  --open-timeout SECONDS      close connections not opened by then (30; 0: never)\n"
           "  --max-buffer-per-uid MIB    unfinished input of one user other than root (64)\n"
           "  --max-buffer MIB            unfinished input of all users but root (256)\n"
           "Sockets passed by systemd (LISTEN_FDS) replace the UNIX sockets; a socket named\n"
           "\"ro\" (FileDescriptorName=ro) is read-only.\n";
}

// A whole non-negative decimal number that fits, or nullopt.
std::optional<size_t> parseCount(const std::string& text) {
    size_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

// Sets one of the numeric limit options; false if `arg` is none, or its value is bad
// (then a message is printed).
bool parseLimit(const std::string& arg, const std::string& text, ProxydOptions& o, bool& known) {
    ServerLimits& s = o.serverLimits;
    ClientLimits& c = o.clientLimits;
    const std::map<std::string, std::function<void(size_t)>> setters = {
        {"--max-clients", [&](size_t v) { s.maxClients = v; }},
        {"--max-clients-per-uid", [&](size_t v) { s.maxClientsPerUid = v; }},
        {"--max-anonymous-clients", [&](size_t v) { s.maxAnonymousClientsPerUid = v; }},
        {"--max-client-requests", [&](size_t v) { c.maxPendingCalls = v; }},
        {"--open-timeout", [&](size_t v) { c.openTimeout = std::chrono::seconds(v); }},
        {"--max-buffer-per-uid", [&](size_t v) { s.maxBufferPerUid = v * kMiB; }},
        {"--max-buffer", [&](size_t v) { s.maxBuffer = v * kMiB; }},
    };
    auto it = setters.find(arg);
    known = it != setters.end();
    if (!known) {
        return false;
    }
    auto v = parseCount(text);
    // Zero requests in flight, or a buffer that cannot hold a handshake, would refuse
    // everyone.
    bool zeroOk = arg == "--open-timeout";
    if (!v || (*v == 0 && !zeroOk) || *v > 1000000) {
        std::cerr << "virtswarm-proxyd: " << arg << " needs a number from " << (zeroOk ? 0 : 1)
                  << " to 1000000, not '" << text << "'\n";
        return false;
    }
    it->second(*v);
    return true;
}

bool parse(int argc, char** argv, ProxydOptions& o) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= argc) {
                return false;
            }
            out = argv[++i];
            return true;
        };
        bool isLimit = false;
        std::string limitValue = i + 1 < argc ? argv[i + 1] : "";
        if (parseLimit(arg, limitValue, o, isLimit)) {
            ++i;
            continue;
        }
        if (isLimit) {
            return false;
        }
        if (arg == "--system") {
            o.mode = BusMode::System;
        } else if (arg == "--session") {
            o.mode = BusMode::Session;
        } else if (arg == "--socket") {
            if (!value(o.socket)) {
                return false;
            }
        } else if (arg == "--socket-ro") {
            if (!value(o.socketRo)) {
                return false;
            }
        } else if (arg == "--libvirt-paths") {
            o.libvirtPaths = true;
        } else if (arg == "--tcp") {
            if (!value(o.tcp)) {
                return false;
            }
        } else if (arg == "-h" || arg == "--help") {
            usage(std::cout);
            std::exit(0);
        } else {
            return false;
        }
    }
    return true;
}

// Where the sockets go: virtswarm's own directory, or where libvirt's clients look for
// libvirtd (`libvirt`: qemu:///system, or qemu:///session under $XDG_RUNTIME_DIR).
std::string socketDir(BusMode mode, bool libvirtPaths) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    std::string sub = libvirtPaths ? "/libvirt" : "/virtswarm";
    if (mode == BusMode::Session && xdg != nullptr) {
        return std::string(xdg) + sub;
    }
    return "/run" + sub;
}

Result<void> listen(Server& server, const ProxydOptions& o) {
    char** names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    if (n > 0) {
        Result<void> result = success();
        for (int i = 0; i < n; ++i) {
            std::string name = names != nullptr && names[i] != nullptr ? names[i] : "";
            bool readOnly = name == "ro" || (name.size() > 3 && name.ends_with("-ro"));
            if (auto r = server.adoptListener(SD_LISTEN_FDS_START + i, readOnly); !r && result) {
                result = r;
            }
            std::free(names != nullptr ? names[i] : nullptr);
        }
        std::free(names);
        return result;
    }
    std::string dir = socketDir(o.mode, o.libvirtPaths);
    std::string rw = !o.socket.empty() ? o.socket : dir + "/libvirt-sock";
    std::string ro = !o.socketRo.empty() ? o.socketRo : dir + "/libvirt-sock-ro";
    if (auto r = server.listenUnix(rw, false); !r) {
        return r;
    }
    if (auto r = server.listenUnix(ro, true); !r) {
        return r;
    }
    log::notice("listening on " + rw + " and " + ro + " (read-only)");
    return success();
}

// Networks are the system's, whoever runs the bridge: a session user's guests take their
// TAPs from the system's networkd, so a session bridge shows (and, as polkit allows,
// manages) those networks, on a connection of its own to the system bus. Null for a
// system bridge, or when there is no system bus (the network procedures then fail).
std::unique_ptr<sdbus::IConnection> systemBusForNetworks(BusMode mode, EventLoop& loop) {
    if (mode != BusMode::Session) {
        return nullptr;
    }
    auto bus = openBus(BusMode::System);
    Result<void> attached = bus ? loop.attachBus(*bus.value()) : Result<void>(bus.error());
    if (attached) {
        return std::move(bus).value();
    }
    log::warning("no system bus for the networks: " + attached.error().message());
    return nullptr;
}

// Every client and every open console holds a descriptor: use all the kernel allows us,
// and admit no more clients than that leaves room for. Returns the soft limit.
size_t raiseFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(limit.rlim_cur);
}

// How long a re-exec waits for the calls in flight to be answered.
constexpr std::chrono::seconds kReexecDrain{10};

// Runs the bridge until SIGTERM (the exit code) or SIGUSR1: then, once the calls in flight
// are answered, the listening sockets go to `handover` for the next image.
// What a re-exec hands to the next image besides the process: its listening sockets and
// its client connections.
struct Handover {
    std::vector<HandedListener> listeners;
    nlohmann::json clients;
};

int serve(const ProxydOptions& options, ServerLimits serverLimits,
          const std::optional<nlohmann::json>& inheritedClients,
          std::optional<Handover>& handover) {
    // A client of the bus, owning no name: DBUS_SYSTEM_BUS_ADDRESS picks the bus.
    auto runtime = DaemonRuntime::start(options.mode);
    if (!runtime) {
        log::error(runtime.error().message());
        return 1;
    }
    DaemonRuntime& daemon = runtime.value();
    EventLoop& loop = daemon.loop();
    sdbus::IConnection& connection = daemon.bus();

    Authority authority(connection, options.mode);
    RegistryClient registry(connection, loop);
    auto systemBus = systemBusForNetworks(options.mode, loop);
    NetworkClient networks(systemBus ? *systemBus : connection, loop);
    StorageClient storage(connection, loop);
    NodeDeviceClient nodeDevices(connection, loop);
    NWFilterClient nwfilters(connection, loop);
    Server server(loop, serverLimits, options.clientLimits);
    EventForwarder events(registry.cache(), [&server](const std::function<void(Client&)>& fn) {
        server.forEachClient(fn);
    });
    registry.setEventHandler([&events](const DomainEventSignal& e) { events.forward(e); });
    registry.setNoticeHandler([&events](const DomainNoticeSignal& n) { events.forward(n); });
    networks.setEventHandler([&events](const NetworkEventSignal& e) { events.forward(e); });
    storage.pools.setEventHandler(
        [&events](const StoragePoolEventSignal& e) { events.forward(e); });
    storage.setRefreshHandler([&events](const RemoteStoragePool& p) { events.forwardRefresh(p); });
    nodeDevices.setEventHandler([&events](const std::string& name, int32_t event, int32_t detail) {
        events.forwardNodeDevice(name, event, detail);
    });
    EmulatorQuery qemuVersion(loop, kDefaultEmulator, {"--version"});
    EmulatorQuery qemuCpuModels(loop, kDefaultEmulator, {"-cpu", "help"});
    Services services{loop,        registry,      networks, authority,   events,   options.mode,
                      qemuVersion, qemuCpuModels, storage,  nodeDevices, nwfilters};
    Dispatcher dispatcher(services);
    server.setDispatcher(dispatcher);

    if (auto r = listen(server, options); !r) {
        log::error(r.error().message());
        return 1;
    }
    // After a re-exec the TCP socket came with the others.
    if (!options.tcp.empty() && !server.hasTcpListener()) {
        if (auto r = server.listenTcp(options.tcp); !r) {
            log::error(r.error().message());
            return 1;
        }
        log::notice("listening on TCP " + options.tcp + " (read-only)");
    }
    if (auto r = registry.start(); !r) {
        log::error(r.error().message());
        return 1;
    }
    if (auto r = networks.start(); !r) {
        log::error(r.error().message());
        return 1;
    }
    if (auto r = storage.start(); !r) {
        log::error(r.error().message());
        return 1;
    }
    if (auto r = nodeDevices.start(); !r) {
        log::error(r.error().message());
        return 1;
    }
    if (auto r = nwfilters.start(); !r) {
        log::error(r.error().message());
        return 1;
    }
    // Connections the previous image kept: served again, their registrations with them.
    if (inheritedClients) {
        events.skipCallbackIdsTo(server.adoptClients(*inheritedClients));
        log::notice("re-executed: " + std::to_string(server.clientCount()) + " of " +
                    std::to_string(inheritedClients->size()) + " connections kept");
    }
    // The bridge owns no name: its clients wait in the listening sockets' backlog instead.
    service::ReexecRequest reexec(daemon,
                                  {.settle =
                                       [&server](std::function<void()> settled) {
                                           server.drain(kReexecDrain, std::move(settled));
                                       },
                                   .notice = "re-executing once the calls in flight are answered"});
    sd_notify(0, "READY=1");
    int exitCode = daemon.run();
    if (reexec.requested()) {
        handover = Handover{server.releaseListeners(), server.handOverClients(kParkingFd)};
    }
    return exitCode;
}

} // namespace

int main(int argc, char** argv) {
    service::blockReexecSignal();
    log::init("virtswarm-proxyd");
    service::Reexec reexec(argc, argv);
    size_t openFiles = raiseFileLimit();
    ProxydOptions options;
    if (!parse(argc, argv, options)) {
        usage(std::cerr);
        return 2;
    }
    ServerLimits serverLimits = fitToDescriptors(options.serverLimits, openFiles);
    if (serverLimits.maxClients < options.serverLimits.maxClients) {
        log::warning("only " + std::to_string(openFiles) + " file descriptors: at most " +
                     std::to_string(serverLimits.maxClients) + " clients");
    }
    // A re-executed image: the connections its predecessor kept open.
    std::optional<nlohmann::json> inheritedClients;
    if (auto state = service::takeState(kClientsStateVariable); !state) {
        log::error("the previous image's connections are lost: " + state.error().message());
        inheritedClients = nlohmann::json::array();
    } else if (state.value()) {
        inheritedClients = state.value()->value("clients", nlohmann::json::array());
    }
    std::optional<Handover> handover;
    int exitCode = serve(options, serverLimits, inheritedClients, handover);
    if (handover) {
        Error failed = execWithListeners(reexec, std::move(handover->listeners), handover->clients);
        log::error(failed.message());
        return 1;
    }
    return exitCode;
}
