// SPDX-License-Identifier: LGPL-2.1-or-later
#include "system_bus.hpp"

#include "virtswarm/dbus_edge.hpp"

namespace virtswarm::shim {

SystemBusLink::SystemBusLink(EventLoop& loop, sdbus::IConnection* systemBus)
    : m_loop(loop)
    , m_systemBus(systemBus) {}

SystemBusLink::~SystemBusLink() = default;

Result<sdbus::IConnection*> SystemBusLink::connection(const std::string& reaching) {
    if (m_systemBus != nullptr) {
        return m_systemBus;
    }
    auto bus = openBus(BusMode::System);
    if (!bus) {
        Error error = bus.error();
        return error.prefix(reaching);
    }
    if (auto r = m_loop.attachBus(*bus.value()); !r) {
        return r.error();
    }
    m_ownConnection = std::move(bus).value();
    m_systemBus = m_ownConnection.get();
    return m_systemBus;
}

} // namespace virtswarm::shim
