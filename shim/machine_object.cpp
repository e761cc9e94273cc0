// SPDX-License-Identifier: LGPL-2.1-or-later
#include "machine_object.hpp"

#include "virtswarm/names.hpp"

namespace virtswarm::shim {
namespace {

void replyWith(const std::shared_ptr<sdbus::Result<>>& result, Result<void> outcome) {
    if (outcome) {
        result->returnResults();
    } else {
        result->returnError(toDBusError(outcome.error()));
    }
}

} // namespace

MachineObject::MachineObject(sdbus::IConnection& connection, Machine& machine)
    : AdaptorInterfaces(connection, names::kShimPath)
    , m_machine(machine) {
    registerAdaptor();
}

MachineObject::~MachineObject() { unregisterAdaptor(); }

void MachineObject::announceState() {
    emitPropertiesChangedSignal(Machine_adaptor::INTERFACE_NAME, {"State", "StateReason", "Pid"});
    emitStateChanged(m_machine.state(), m_machine.reason());
}

void MachineObject::Shutdown(sdbus::Result<>&& result, Options options) {
    auto shared = std::make_shared<sdbus::Result<>>(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        replyWith(shared, r);
        return;
    }
    m_machine.shutdown([shared](Result<void> r) { replyWith(shared, std::move(r)); });
}

void MachineObject::Destroy(sdbus::Result<>&& result, Options options) {
    auto shared = std::make_shared<sdbus::Result<>>(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        replyWith(shared, r);
        return;
    }
    m_machine.destroy([shared](Result<void> r) { replyWith(shared, std::move(r)); });
}

std::string MachineObject::GetXML(const Options& options) {
    if (auto r = checkOptions(options, {}); !r) {
        throw toDBusError(r.error());
    }
    return m_machine.domain().xml;
}

} // namespace virtswarm::shim
