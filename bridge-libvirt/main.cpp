// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-proxyd: the libvirt remote protocol on UNIX sockets (and optionally TCP), served
// by the swarm's D-Bus API. virsh, virt-install and python-libvirt talk to it as to libvirtd.
#include "dispatcher.hpp"
#include "events.hpp"
#include "network_client.hpp"
#include "registry_client.hpp"
#include "server.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/polkit.hpp"

#include <cstdlib>
#include <iostream>
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
};

void usage(std::ostream& out) {
    out << "usage: virtswarm-proxyd [--system|--session] [--socket PATH] [--socket-ro PATH]\n"
           "                        [--libvirt-paths] [--tcp HOST:PORT]\n"
           "  --socket PATH      read-write socket (default /run/virtswarm/libvirt-sock)\n"
           "  --socket-ro PATH   read-only socket (default /run/virtswarm/libvirt-sock-ro)\n"
           "  --libvirt-paths    listen where libvirt clients look by default:\n"
           "                     /run/libvirt/libvirt-sock and /run/libvirt/libvirt-sock-ro\n"
           "  --tcp HOST:PORT    also listen on TCP (read-only, unauthenticated; off by default)\n"
           "Sockets passed by systemd (LISTEN_FDS) replace the UNIX sockets; a socket named\n"
           "\"ro\" (FileDescriptorName=ro) is read-only.\n";
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

std::string defaultDir(BusMode mode) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    if (mode == BusMode::Session && xdg != nullptr) {
        return std::string(xdg) + "/virtswarm";
    }
    return "/run/virtswarm";
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
    std::string dir = o.libvirtPaths ? "/run/libvirt" : defaultDir(o.mode);
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

// Every client and every open console holds a descriptor: use all the kernel allows us.
void raiseFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

} // namespace

int main(int argc, char** argv) {
    log::init("virtswarm-proxyd");
    raiseFileLimit();
    ProxydOptions options;
    if (!parse(argc, argv, options)) {
        usage(std::cerr);
        return 2;
    }
    auto loop = EventLoop::create();
    if (!loop) {
        log::error(loop.error().message());
        return 1;
    }
    loop.value()->exitOnTermination();

    // A client of the bus, owning no name: DBUS_SYSTEM_BUS_ADDRESS picks the bus.
    auto bus = openBus(options.mode);
    if (!bus) {
        log::error(bus.error().message());
        return 1;
    }
    sdbus::IConnection& connection = *bus.value();
    if (auto r = loop.value()->attachBus(connection); !r) {
        log::error(r.error().message());
        return 1;
    }

    Authority authority(connection, options.mode);
    RegistryClient registry(connection, *loop.value());
    NetworkClient networks(connection, *loop.value());
    Server server(*loop.value(), ClientLimits{});
    EventForwarder events(registry.cache(), [&server](const std::function<void(Client&)>& fn) {
        server.forEachClient(fn);
    });
    registry.setEventHandler([&events](const DomainEventSignal& e) { events.forward(e); });
    networks.setEventHandler([&events](const NetworkEventSignal& e) { events.forward(e); });
    Services services{*loop.value(), registry, networks, authority, events};
    Dispatcher dispatcher(services);
    server.setDispatcher(dispatcher);

    if (auto r = listen(server, options); !r) {
        log::error(r.error().message());
        return 1;
    }
    if (!options.tcp.empty()) {
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
    sd_notify(0, "READY=1");
    int r = loop.value()->run();
    return r < 0 ? 1 : r;
}
