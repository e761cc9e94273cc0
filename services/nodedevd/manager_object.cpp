// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "device_object.hpp"
#include "registry.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::nodedev {
namespace {

constexpr auto kCreateMdev = actions::forMethod(names::kNodeDeviceManagerInterface, "CreateMdev");

Error noSuchDevice(const std::string& what) {
    return Error(Code::NoSuchNodeDevice, "no node device with matching " + what);
}

} // namespace

ManagerObject::ManagerObject(DeviceRegistry& registry)
    : AdaptorInterfaces(registry.connection(), names::kNodeDeviceRootPath)
    , m_registry(registry) {
    registerAdaptor();
    m_registry.setEventEmitter([this](const DeviceObject& d, int event) {
        emitNodeDeviceEvent(DeviceRegistry::objectPathFor(d.device().name), d.device().name, event,
                            0);
    });
}

ManagerObject::~ManagerObject() {
    m_registry.setEventEmitter(nullptr);
    unregisterAdaptor();
}

sdbus::ObjectPath ManagerObject::LookupByName(const std::string& name) {
    auto found = m_registry.devices().lookupByName(name);
    if (!found) {
        throw toDBusError(found.error());
    }
    return DeviceRegistry::objectPathFor(name);
}

sdbus::ObjectPath ManagerObject::LookupSCSIHostByWWN(const std::string& wwnn,
                                                     const std::string& wwpn) {
    for (DeviceObject* d : m_registry.all()) {
        const NodeDevice& device = d->device();
        if (!device.wwnn.empty() && device.wwnn == wwnn && device.wwpn == wwpn) {
            return DeviceRegistry::objectPathFor(device.name);
        }
    }
    throw toDBusError(noSuchDevice("wwnn '" + wwnn + "' and wwpn '" + wwpn + "'"));
}

std::vector<sdbus::ObjectPath> ManagerObject::ListDevices(const Options& options) {
    auto capability = stringOption(options, "capability", "");
    if (auto r = service::firstError(checkOptions(options, {"capability"}), capability); !r) {
        throw toDBusError(r.error());
    }
    std::vector<sdbus::ObjectPath> out;
    for (DeviceObject* d : m_registry.all()) {
        if (capability.value().empty() || d->device().is(capability.value())) {
            out.emplace_back(DeviceRegistry::objectPathFor(d->device().name));
        }
    }
    return out;
}

bool ManagerObject::LiveUpdates() {
    return m_registry.liveUpdates();
}

void ManagerObject::CreateMdev(sdbus::Result<sdbus::ObjectPath>&& result, std::string parent,
                               std::string type, std::string uuid, Options options) {
    auto shared = share(std::move(result));
    auto found = m_registry.devices().lookupByName(parent);
    if (auto r = service::firstError(checkOptions(options, {}), found); !r) {
        fail(shared, r.error());
        return;
    }
    auto parsed = parseUuid(uuid);
    if (!parsed) {
        fail(shared, parsed.error());
        return;
    }
    // The name the kernel's new device will have, as the scan makes it.
    std::string name = deviceName({"mdev", formatUuid(parsed.value())});
    Caller caller = currentCaller(getObject());
    m_registry.authority().checkBusName(
        caller.sender, actions::actionId(kCreateMdev), found.value()->details(),
        caller.allowInteraction, [this, shared, parent, type, uuid, name](Result<void> allowed) {
            if (!allowed) {
                fail(shared, allowed.error());
                return;
            }
            // Looked up again: the parent may have gone while polkit decided.
            DeviceObject* p = m_registry.findByName(parent);
            if (p == nullptr) {
                fail(shared, noSuchDevice("name '" + parent + "'"));
                return;
            }
            m_registry.control().createMdev(
                p->device(), type, uuid, [this, shared, name](Result<void> r) {
                    if (!r) {
                        fail(shared, r.error());
                        return;
                    }
                    m_registry.rescan();
                    if (m_registry.findByName(name) == nullptr) {
                        fail(shared, Error(Code::OperationFailed,
                                           "the kernel created " + name + " but it is not found"));
                        return;
                    }
                    shared->returnResults(sdbus::ObjectPath(DeviceRegistry::objectPathFor(name)));
                });
        });
}

} // namespace virtswarm::nodedev
