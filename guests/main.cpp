// SPDX-License-Identifier: LGPL-2.1-or-later
// virtswarm-guests: what virtswarm-guests.service runs at boot ("start") and at host
// shutdown ("stop"), configured like libvirt-guests by /etc/default/virtswarm-guests.
#include "boot_starter.hpp"
#include "guest_record.hpp"
#include "guest_stopper.hpp"
#include "guests_config.hpp"
#include "swarm_client.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/paths.hpp"

#include <algorithm>
#include <iostream>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::guests;

namespace {

void usage() {
    std::cerr << "usage: virtswarm-guests [--system|--session] [--config FILE] start|stop|check\n"
                 "  start  bring up autostart networks, then autostart domains, then the\n"
                 "         guests the last 'stop' stopped (ON_BOOT=start)\n"
                 "  stop   shut down, save or destroy every running guest (ON_SHUTDOWN)\n"
                 "  check  only validate the configuration file\n";
}

int stopGuests(SwarmClient& client, const GuestsConfig& config, const std::string& recordPath) {
    GuestStopper stopper(client, config);
    auto stopped = stopper.stopAll();
    if (!stopped) {
        log::error(stopped.error().message());
        return 1;
    }
    std::vector<std::string> toRestart;
    bool allDown = true;
    for (const auto& s : stopped.value()) {
        allDown = allDown && s.down;
        if (s.down && s.guest.persistent) {
            toRestart.push_back(s.guest.uuid);
        }
    }
    // Merged with what an earlier, interrupted stop recorded, so no guest is forgotten.
    if (auto earlier = readGuestRecord(recordPath); earlier) {
        for (const auto& uuid : earlier.value()) {
            if (std::find(toRestart.begin(), toRestart.end(), uuid) == toRestart.end()) {
                toRestart.push_back(uuid);
            }
        }
    }
    if (!toRestart.empty()) {
        if (auto r = writeGuestRecord(recordPath, toRestart); !r) {
            log::error("cannot record the stopped guests: " + r.error().message());
            return 1;
        }
    }
    return allDown ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    log::init("virtswarm-guests");
    BusMode mode = getuid() == 0 ? BusMode::System : BusMode::Session;
    std::string configPath = VIRTSWARM_GUESTS_CONFIG;
    std::string command;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--system") {
            mode = BusMode::System;
        } else if (arg == "--session") {
            mode = BusMode::Session;
        } else if (arg == "--config" && i + 1 < argc) {
            configPath = argv[++i];
        } else if (command.empty() && (arg == "start" || arg == "stop" || arg == "check")) {
            command = arg;
        } else {
            usage();
            return 2;
        }
    }
    if (command.empty()) {
        usage();
        return 2;
    }
    auto config = loadGuestsConfig(configPath);
    if (!config) {
        log::error("bad configuration: " + config.error().message());
        return 2;
    }
    if (command == "check") {
        return 0;
    }
    auto bus = openBus(mode);
    if (!bus) {
        log::error(bus.error().message());
        return 1;
    }
    SwarmClient client(*bus.value());
    const std::string recordPath = daemonPaths("guests", mode).stateDir + "/stopped";
    if (command == "stop") {
        return stopGuests(client, config.value(), recordPath);
    }
    // networkd serves the system bus only.
    BootStarter boot(client, config.value(), mode == BusMode::System);
    return boot.run(recordPath) ? 0 : 1;
}
