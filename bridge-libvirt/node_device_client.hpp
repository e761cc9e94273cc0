// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "service_client.hpp"
#include "virtswarm/dbus_edge.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

// The bridge's side of virtswarm-nodedevd (org.virtswarm.NodeDevice1, system bus): a copy
// of its devices (name, parent, capabilities and the polkit details) for lists, lookups
// and parents without a round trip, and its methods, called asynchronously with timeouts.
// Node devices have no UUID: the cache is keyed by path and name (ObjectCache is by UUID).
namespace virtswarm::bridge {

struct CachedNodeDevice {
    std::string path;
    std::string name;
    std::string parent;
    std::vector<std::string> capabilities;
    std::string vendorId;
    std::string productId;
    std::string deviceClass;
};

class NodeDeviceCache : public ObjectMirror {
public:
    void update(const std::string& path, const PropertyMap& properties) override;
    void remove(const std::string& path) override;
    void clear() override;
    bool contains(const std::string& path) const override { return m_byPath.count(path) > 0; }
    size_t size() const override { return m_byPath.size(); }

    const CachedNodeDevice* byName(const std::string& name) const;
    const CachedNodeDevice* byPath(const std::string& path) const;
    // By name, as libvirt lists.
    std::vector<const CachedNodeDevice*> all() const;

private:
    std::unordered_map<std::string, CachedNodeDevice> m_byPath;
    std::unordered_map<std::string, std::string> m_pathByName;
};

class NodeDeviceClient {
public:
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    NodeDeviceClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches; the cache is filled (nodedevd activated) on first use.
    Result<void> start() { return m_service.start(false); }
    void whenSynced(Done then) { m_service.whenSynced(std::move(then)); }
    // Manager.NodeDeviceEvent (name, event: created 0, deleted 1, detail).
    using EventHandler =
        std::function<void(const std::string& name, int32_t event, int32_t detail)>;
    void setEventHandler(EventHandler handler) { m_onEvent = std::move(handler); }
    const NodeDeviceCache& cache() const { return m_cache; }

    // Device.GetXML
    void getXml(const std::string& path, Then<std::string> done);
    // Device.Detach, ReAttach, Reset, Destroy (a{sv} options).
    void action(const std::string& path, const std::string& method, Options options, Done done);
    // Manager.CreateMdev: the new device's object path, once the kernel shows it.
    void createMdev(const std::string& parent, const std::string& type, const std::string& uuid,
                    Then<sdbus::ObjectPath> done);
    // Manager.LookupSCSIHostByWWN
    void lookupScsiHost(const std::string& wwnn, const std::string& wwpn,
                        Then<sdbus::ObjectPath> done);

private:
    ServiceClient m_service;
    NodeDeviceCache m_cache;
    EventHandler m_onEvent;
};

} // namespace virtswarm::bridge
