// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "guests_config.hpp"
#include "swarm_client.hpp"

#include <string>

namespace virtswarm::guests {

// The boot sequence: networkd first (it starts its autostart networks as it comes up)
// and every autostart network up, then the registry (it starts its autostart domains,
// a bounded number at a time), then the guests the last shutdown stopped, per ON_BOOT.
// Logs one line per object; returns false if any object failed to come up.
class BootStarter {
public:
    BootStarter(SwarmClient& client, const GuestsConfig& config, bool withNetworks);

    bool run(const std::string& recordPath);

private:
    bool bringUpNetworks();
    bool awaitAutostartDomains();
    bool restoreStoppedGuests(const std::string& recordPath);
    std::chrono::steady_clock::time_point deadline() const;

    SwarmClient& m_client;
    const GuestsConfig& m_config;
    bool m_withNetworks;
};

} // namespace virtswarm::guests
