// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/service/fd_broker.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::shim {

// TAP devices come from virtswarm-networkd on the system bus (the fd broker's client side):
// the shim never creates network devices itself, so it needs no network privilege, in
// system or session mode.
class TapBroker {
public:
    struct Tap {
        int fd;
        std::string ifname;
    };

    // `systemBus`: the shim's own connection when it is on the system bus; null for a
    // session-mode shim, which then connects to the system bus at its first request
    // (most VMs never need a TAP, and those shims keep no second connection). Lives as
    // long as the loop runs: that connection stays attached to it.
    TapBroker(EventLoop& loop, sdbus::IConnection* systemBus);
    ~TapBroker();

    // Asks networkd for a TAP on the NIC's network (type 'network') or host bridge
    // (type 'bridge'). The fd is the caller's to pass on and close.
    void acquire(const InterfaceDef& nic, std::function<void(Result<Tap>)> done);

private:
    class NetworkdProxy;
    Result<NetworkdProxy*> networkd();

    EventLoop& m_loop;
    sdbus::IConnection* m_systemBus;
    std::unique_ptr<sdbus::IConnection> m_ownConnection;
    service::FdRequests m_requests;            // outlives the proxy whose replies complete it
    std::unique_ptr<NetworkdProxy> m_networkd; // declared after the connection it uses
};

} // namespace virtswarm::shim
