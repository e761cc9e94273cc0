// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::shim {

// TAP devices come from virtswarm-networkd on the system bus: the shim never creates
// network devices itself, so it needs no network privilege, in system or session mode.
class TapBroker {
public:
    struct Tap {
        int fd;
        std::string ifname;
    };

    explicit TapBroker(sdbus::IConnection& systemBus);
    ~TapBroker();

    // Asks networkd for a TAP on the NIC's network (type 'network') or host bridge
    // (type 'bridge'). The fd is the caller's to pass on and close.
    void acquire(const InterfaceDef& nic, std::function<void(Result<Tap>)> done);

private:
    std::unique_ptr<sdbus::IProxy> m_networkd;
    Lifetime m_lifetime;
};

} // namespace virtswarm::shim
