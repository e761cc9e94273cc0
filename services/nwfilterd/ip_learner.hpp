// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "dhcp_lease.hpp"
#include "guest_frame.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <memory>
#include <string>

namespace virtswarm::nwfilter {

// Learning a port's $IP (CTRL_IP_LEARNING): watches the frames of the port's device with an
// AF_PACKET socket bound to it and a BPF program that keeps, in the kernel, only
// - the DHCP answers the device sends towards the guest (IPv4 UDP to port 68 going out,
//   PACKET_OUTGOING): each DHCPACK for the guest's MAC is reported (`dhcp` and `any`); an
//   "ACK" the guest sends itself is ignored;
// - with watchGuest(): the untagged ARP and IPv4 frames coming from the guest (not
//   PACKET_OUTGOING) with the guest's MAC as source whose ARP sender or IPv4 source is a
//   usable address (`any`), optionally all but one (the address already learned); each
//   such address is reported.
// The tap sees frames before the bridge's nftables hooks: the port's rules may drop them.
// A flood is bounded: at most kMaxPerWake frames are read per wake-up, the rest wait in
// (or overflow) the socket's small buffer.
class IpLearner {
public:
    static constexpr int kMaxPerWake = 64;

    struct Callbacks {
        std::function<void(const DhcpLease&)> lease;
        std::function<void(const std::string&)> guestAddress;
    };
    // Which of the guest's own frames reach nwfilterd.
    enum class GuestWatch {
        Off,    // none: DHCP answers only
        All,    // every usable address the guest uses
        Others, // every usable address but `known`
    };

    // Starts with GuestWatch::Off. A callback may destroy the learner.
    static Result<std::unique_ptr<IpLearner>> start(EventLoop& loop, const std::string& port,
                                                    const std::string& mac, Callbacks callbacks);
    ~IpLearner();
    IpLearner(const IpLearner&) = delete;
    IpLearner& operator=(const IpLearner&) = delete;

    // Replaces the kernel's program; frames already queued are still read (and judged by
    // the caller). `known`: a dotted IPv4 address, for GuestWatch::Others.
    Result<void> watchGuest(GuestWatch watch, const std::string& known = {});

private:
    IpLearner(int fd, MacBytes mac, Callbacks callbacks);
    void readAvailable();

    int m_fd;
    MacBytes m_mac;
    Callbacks m_callbacks;
    EventSource m_io;
};

} // namespace virtswarm::nwfilter
