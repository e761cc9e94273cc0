// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "system_bus.hpp"
#include "virtswarm/domain_def.hpp"
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

    // `systemBus` connects only at the first request (most VMs never need a TAP).
    explicit TapBroker(SystemBusLink& systemBus);
    ~TapBroker();

    // Asks networkd for a TAP on the NIC's network (type 'network') or host bridge
    // (type 'bridge'), with the NIC's network filter bound to it (owned by `domain`) when
    // it has a <filterref>. The fd is the caller's to pass on and close.
    void acquire(const InterfaceDef& nic, const DomainDef& domain,
                 std::function<void(Result<Tap>)> done);

private:
    class NetworkdProxy;
    Result<NetworkdProxy*> networkd();

    SystemBusLink& m_systemBus;
    service::FdRequests m_requests;            // outlives the proxy whose replies complete it
    std::unique_ptr<NetworkdProxy> m_networkd; // declared after the connection it uses
};

} // namespace virtswarm::shim
