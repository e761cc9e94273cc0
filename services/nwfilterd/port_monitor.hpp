// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"

#include <functional>
#include <string>

namespace virtswarm::nwfilter {

// Follows the removal of network devices (rtnetlink link notifications): a binding lives as
// long as its port, and a TAP goes when the last fd on it closes (QEMU exits or crashes, its
// shim is killed, the NIC is unplugged), with nobody left to say so.
class PortMonitor {
public:
    // `removed` gets the device's ifindex and name; `lost` is called when notifications
    // were dropped (the socket overflowed): the caller checks its ports itself.
    PortMonitor(EventLoop& loop, std::function<void(int ifindex, const std::string& name)> removed,
                std::function<void()> lost);
    ~PortMonitor();
    PortMonitor(const PortMonitor&) = delete;
    PortMonitor& operator=(const PortMonitor&) = delete;

    // Handles the notifications already queued, now: before a port is bound, the removal of
    // an earlier device of the same name (the kernel reuses TAP names) must be seen first.
    void drain();

private:
    int m_fd = -1;
    EventSource m_io;
    std::function<void(int, const std::string&)> m_removed;
    std::function<void()> m_lost;
};

// The ifindex of the device named `name`, 0 when there is none.
int portIndex(const std::string& name);

} // namespace virtswarm::nwfilter
