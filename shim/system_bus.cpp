// SPDX-License-Identifier: LGPL-2.1-or-later
#include "system_bus.hpp"

#include "virtswarm/dbus_edge.hpp"

namespace virtswarm::shim {

SystemBusLink::SystemBusLink(EventLoop& loop, sdbus::IConnection* systemBus)
    : m_loop(loop)
    , m_systemBus(systemBus) {}

Result<sdbus::IConnection*> SystemBusLink::connection() {
    if (m_systemBus != nullptr) {
        return m_systemBus;
    }
    auto bus = openBus(BusMode::System);
    if (!bus) {
        Error error = bus.error();
        return error.prefix("connecting to the system bus");
    }
    if (auto r = m_loop.attachBus(*bus.value()); !r) {
        return r.takeError();
    }
    m_ownConnection = std::move(bus).value();
    m_systemBus = m_ownConnection.get();
    return m_systemBus;
}

} // namespace virtswarm::shim
