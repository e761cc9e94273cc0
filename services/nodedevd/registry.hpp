// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "device_control.hpp"
#include "name_database.hpp"
#include "node_device.hpp"
#include "sysfs.hpp"
#include "uevent_monitor.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::nodedev {

class DeviceObject;

// libvirt's virNodeDeviceEventLifecycleType, the `event` of the NodeDeviceEvent signal.
enum NodeDeviceEvent : int { kEventCreated = 0, kEventDeleted = 1 };

inline constexpr service::ObjectKind kNodeDeviceKind{
    "node device", names::kNodeDevicePathPrefix, Code::NodeDeviceExists, Code::NoSuchNodeDevice};

// nodedevd's model: the devices of one sysfs tree, kept equal to it by rescans (at start,
// on uevents, after nodedevd's own operations). Devices are found, not defined: they are
// keyed by their libvirt name (ObjectRegistry::addNamed).
class DeviceRegistry {
public:
    DeviceRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                   const std::string& sysfsRoot);
    ~DeviceRegistry();

    // The first scan, then the uevent monitor (real sysfs only).
    void start(std::function<void()> ready);
    // Reads the tree again: new devices are added (created), gone ones removed (deleted),
    // changed ones updated (PropertiesChanged).
    void rescan();
    // A rescan on the next loop turn (several requests, one scan): what an object's own
    // method asks for, as the rescan may remove that object.
    void requestRescan();

    DeviceObject* findByName(const std::string& name) const { return m_devices.findByName(name); }
    std::vector<DeviceObject*> all() const { return m_devices.all(); }
    const service::ObjectRegistry<DeviceObject>& devices() const { return m_devices; }
    static std::string objectPathFor(const std::string& name) {
        return std::string(kNodeDeviceKind.pathPrefix) + name;
    }
    bool liveUpdates() const { return m_monitor != nullptr && m_monitor->active(); }

    void setEventEmitter(std::function<void(const DeviceObject&, int)> emitter) {
        m_emitEvent = std::move(emitter);
    }

    sdbus::IConnection& connection() { return m_connection; }
    EventLoop& loop() { return m_loop; }
    Authority& authority() { return m_authority; }
    DeviceControl& control() { return m_control; }

private:
    sdbus::IConnection& m_connection;
    EventLoop& m_loop;
    Authority m_authority;
    Sysfs m_sysfs;
    NameDatabase m_names;
    DeviceControl m_control;
    std::unique_ptr<UeventMonitor> m_monitor;
    service::ObjectRegistry<DeviceObject> m_devices;
    std::function<void(const DeviceObject&, int)> m_emitEvent;
    bool m_rescanPending = false;
    bool m_started = false; // the first scan is done
};

} // namespace virtswarm::nodedev
