// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "guests_config.hpp"
#include "swarm_client.hpp"

#include <string>
#include <vector>

namespace virtswarm::guests {

struct StoppedGuest {
    DomainInfo guest;
    // What was done, for the per-guest report: "shut down", "destroyed after ...".
    std::string outcome;
    bool down = false;
};

// Brings every running guest down per ON_SHUTDOWN: an ACPI shutdown with a per-guest
// timeout (at most PARALLEL_SHUTDOWN guests at once), then ON_SHUTDOWN_TIMEOUT for those
// still running; or a managed save; or a destroy. Logs one line per guest.
class GuestStopper {
public:
    GuestStopper(SwarmClient& client, const GuestsConfig& config);

    Result<std::vector<StoppedGuest>> stopAll();

private:
    struct InFlight {
        StoppedGuest stopped;
        std::chrono::steady_clock::time_point deadline;
    };

    void shutDownAll(std::vector<DomainInfo> running, std::vector<StoppedGuest>& out);
    // The guest is gone or powered off.
    bool isDown(const DomainInfo& guest);
    StoppedGuest apply(ShutdownAction action, const DomainInfo& guest, const std::string& why);
    void report(const StoppedGuest& stopped);

    SwarmClient& m_client;
    const GuestsConfig& m_config;
};

} // namespace virtswarm::guests
