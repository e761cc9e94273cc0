// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry.hpp"

#include "device_object.hpp"
#include "device_scan.hpp"
#include "virtswarm/log.hpp"

#include <set>

namespace virtswarm::nodedev {

DeviceRegistry::DeviceRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                               const std::string& sysfsRoot)
    : m_connection(connection)
    , m_loop(loop)
    , m_authority(connection, mode)
    , m_sysfs(sysfsRoot)
    , m_control(m_sysfs, loop)
    , m_devices(kNodeDeviceKind) {}

DeviceRegistry::~DeviceRegistry() {
    m_monitor.reset();
    m_devices.clear();
}

void DeviceRegistry::start(std::function<void()> ready) {
    rescan();
    m_started = true;
    if (m_sysfs.isRealSysfs()) {
        m_monitor = std::make_unique<UeventMonitor>(m_loop, [this] { requestRescan(); });
    }
    log::info("serving " + std::to_string(m_devices.size()) + " devices of " + m_sysfs.root() +
              (liveUpdates() ? ", following uevents" : ", without live updates"));
    ready();
}

void DeviceRegistry::requestRescan() {
    if (m_rescanPending) {
        return;
    }
    m_rescanPending = true;
    m_loop.defer([this] {
        m_rescanPending = false;
        rescan();
    });
}

void DeviceRegistry::rescan() {
    std::vector<NodeDevice> found = scanDevices(m_sysfs, m_names);
    std::set<std::string> present;
    for (auto& device : found) {
        present.insert(device.name);
        if (DeviceObject* existing = m_devices.findByName(device.name)) {
            existing->update(std::move(device));
            continue;
        }
        std::string name = device.name;
        auto added = m_devices.addNamed(name, [&](const std::string& path) {
            return std::make_unique<DeviceObject>(*this, path, std::move(device));
        });
        if (!added) {
            log::warning(added.error().message());
            continue;
        }
        // The first scan finds what is there; only later arrivals are lifecycle events.
        if (m_emitEvent && m_started) {
            m_emitEvent(*added.value(), kEventCreated);
        }
    }
    for (DeviceObject* object : m_devices.all()) {
        if (present.count(object->device().name) > 0) {
            continue;
        }
        std::string name = object->device().name;
        if (m_emitEvent && m_started) {
            m_emitEvent(*object, kEventDeleted);
        }
        m_devices.removeNamed(name);
    }
}

} // namespace virtswarm::nodedev
