// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <memory>
#include <sdbus-c++/sdbus-c++.h>

namespace virtswarm::shim {

// The shim's way to the system bus, where the host-wide daemons it asks for resources are
// (networkd's TAPs, lockd's disk leases), whether the shim itself serves a system or a
// session domain.
class SystemBusLink {
public:
    // `systemBus`: the shim's own connection when it is on the system bus; null for a
    // session-mode shim, which then connects to the system bus at its first request. Lives
    // as long as the loop runs: that connection stays attached to it.
    SystemBusLink(EventLoop& loop, sdbus::IConnection* systemBus);

    Result<sdbus::IConnection*> connection();

private:
    EventLoop& m_loop;
    sdbus::IConnection* m_systemBus;
    std::unique_ptr<sdbus::IConnection> m_ownConnection;
};

} // namespace virtswarm::shim
