// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::shim {

// The shim's way to the system daemons that hand it fds (networkd's TAPs, storaged's
// volumes): its own connection when the shim is on the system bus; for a session-mode
// shim, a connection of its own made at the first request (most VMs never need one).
// Lives as long as the loop runs: that connection stays attached to it.
class SystemBusLink {
public:
    SystemBusLink(EventLoop& loop, sdbus::IConnection* systemBus);
    ~SystemBusLink();

    EventLoop& loop() { return m_loop; }
    // `reaching` names the daemon in the error ("reaching virtswarm-networkd").
    Result<sdbus::IConnection*> connection(const std::string& reaching);
    // Whether the shim itself is on the system bus (system mode).
    bool shimOnSystemBus() const { return m_ownConnection == nullptr && m_systemBus != nullptr; }

private:
    EventLoop& m_loop;
    sdbus::IConnection* m_systemBus;
    std::unique_ptr<sdbus::IConnection> m_ownConnection;
};

} // namespace virtswarm::shim
