// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/network_def.hpp"

#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace virtswarm::network {

// One dnsmasq per network that has addresses, serving DHCP and DNS on its bridge only.
// dnsmasq daemonizes, so it survives a networkd restart; networkd finds it again through
// its pid file.
class Dnsmasq {
public:
    Dnsmasq(std::string stateDir, const NetworkDef& def);

    std::string config() const;
    // dnsmasq forks into the background once its sockets are bound; `done` gets the exit
    // status of its first process, which says whether it started.
    void start(EventLoop& loop, std::function<void(Result<void>)> done);
    void stop();
    // The running dnsmasq for this network, or 0.
    pid_t runningPid() const;

    struct Lease {
        int64_t expiry;
        int type; // 0 IPv4, 1 IPv6
        std::string mac;
        std::string ip;
        unsigned prefix;
        std::string hostname;
        std::string clientId;
    };
    std::vector<Lease> leases() const;

private:
    std::string m_base; // <stateDir>/<network name>
    const NetworkDef& m_def;
};

} // namespace virtswarm::network
