// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::hypervisor {

class Registry;

// Starts the autostart domains when the registry comes up, as libvirtd does, but at most
// `parallel` at a time (a host with many autostart VMs must not thrash at boot), and each
// only once every virtual network its interfaces name is active: at boot networkd may
// still be bringing its autostart networks up. A network that stays down past
// `networkWait` lets the start go ahead and fail with the network's own error.
// One log line per domain started or failed.
class Autostarter {
public:
    Autostarter(Registry& registry, unsigned parallel, std::chrono::milliseconds networkWait);
    ~Autostarter();

    void run(const std::vector<std::string>& uuidHexes);

private:
    void startMore();
    void waitForNetworks(const std::string& uuidHex,
                         std::chrono::steady_clock::time_point deadline);
    // Calls `done(true)` once `network` is active, `done(false)` if it is not (or if
    // networkd cannot tell: then Start reports the real problem).
    void probeNetwork(const std::string& network, std::function<void(bool active)> done);
    void launch(const std::string& uuidHex);
    void finished();
    sdbus::IProxy* networkd();
    sdbus::IProxy& networkProxy(const std::string& path);

    Registry& m_registry;
    unsigned m_parallel;
    std::chrono::milliseconds m_networkWait;
    std::deque<std::string> m_pending;
    unsigned m_running = 0;
    // uuid hex -> its next network probe (one per domain: a new one replaces a fired one).
    std::map<std::string, EventSource> m_retryTimers;
    std::unique_ptr<sdbus::IProxy> m_networkd;
    std::map<std::string, std::unique_ptr<sdbus::IProxy>> m_networks; // by object path
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
