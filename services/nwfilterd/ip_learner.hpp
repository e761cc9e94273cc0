// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "dhcp_lease.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <memory>
#include <string>

namespace virtswarm::nwfilter {

// CTRL_IP_LEARNING=dhcp for one port: watches the DHCP answers the port's device sends
// towards the guest and reports each DHCPACK for the guest's MAC. An AF_PACKET socket bound
// to the device with a BPF program that keeps only UDP to port 68, served by the daemon's
// event loop. Only frames going out to the guest count (PACKET_OUTGOING): an "ACK" the
// guest sends itself is ignored. A flood is bounded: at most kMaxPerWake packets are read
// per wake-up, the rest wait in (or overflow) the socket's small buffer.
class IpLearner {
public:
    static constexpr int kMaxPerWake = 64;

    static Result<std::unique_ptr<IpLearner>> start(EventLoop& loop, const std::string& port,
                                                    std::string mac,
                                                    std::function<void(const DhcpLease&)> learned);
    ~IpLearner();
    IpLearner(const IpLearner&) = delete;
    IpLearner& operator=(const IpLearner&) = delete;

private:
    IpLearner(int fd, std::string mac, std::function<void(const DhcpLease&)> learned);
    void readAvailable();

    int m_fd;
    std::string m_mac;
    std::function<void(const DhcpLease&)> m_learned;
    EventSource m_io;
};

} // namespace virtswarm::nwfilter
