// SPDX-License-Identifier: LGPL-2.1-or-later
#include "node_device_client.hpp"

#include "virtswarm/names.hpp"

#include <algorithm>

namespace virtswarm::bridge {

void NodeDeviceCache::update(const std::string& path, const PropertyMap& properties) {
    auto [it, fresh] = m_byPath.try_emplace(path);
    CachedNodeDevice& device = it->second;
    if (fresh) {
        device.path = path;
    }
    std::string oldName = device.name;
    takeProperty(properties, "Name", device.name);
    takeProperty(properties, "Parent", device.parent);
    takeProperty(properties, "Capabilities", device.capabilities);
    takeProperty(properties, "VendorId", device.vendorId);
    takeProperty(properties, "ProductId", device.productId);
    takeProperty(properties, "DeviceClass", device.deviceClass);
    if (device.name.empty()) {
        m_byPath.erase(it); // not a device (yet): nothing to name it by
        return;
    }
    if (device.name != oldName) {
        m_pathByName.erase(oldName);
        m_pathByName[device.name] = path;
    }
}

void NodeDeviceCache::remove(const std::string& path) {
    auto it = m_byPath.find(path);
    if (it == m_byPath.end()) {
        return;
    }
    if (auto n = m_pathByName.find(it->second.name); n != m_pathByName.end() && n->second == path) {
        m_pathByName.erase(n);
    }
    m_byPath.erase(it);
}

void NodeDeviceCache::clear() {
    m_byPath.clear();
    m_pathByName.clear();
}

const CachedNodeDevice* NodeDeviceCache::byPath(const std::string& path) const {
    auto device = m_byPath.find(path);
    return device == m_byPath.end() ? nullptr : &device->second;
}

const CachedNodeDevice* NodeDeviceCache::byName(const std::string& name) const {
    auto it = m_pathByName.find(name);
    if (it == m_pathByName.end()) {
        return nullptr;
    }
    auto device = m_byPath.find(it->second);
    return device == m_byPath.end() ? nullptr : &device->second;
}

std::vector<const CachedNodeDevice*> NodeDeviceCache::all() const {
    std::vector<const CachedNodeDevice*> out;
    out.reserve(m_byPath.size());
    for (const auto& [path, device] : m_byPath) {
        out.push_back(&device);
    }
    std::sort(out.begin(), out.end(),
              [](const auto* a, const auto* b) { return a->name < b->name; });
    return out;
}

NodeDeviceClient::NodeDeviceClient(sdbus::IConnection& bus, EventLoop& loop)
    : m_service(bus, loop,
                ServiceNames{names::kNodeDeviceBusName, names::kNodeDeviceRootPath,
                             names::kNodeDeviceManagerInterface, "the host device daemon"}) {
    m_service.addMirror(names::kNodeDeviceInterface, m_cache);
    m_service.onSignal("NodeDeviceEvent", [this](sdbus::Message& message) {
        sdbus::ObjectPath path;
        std::string name;
        int32_t event = 0;
        int32_t detail = 0;
        try {
            message >> path >> name >> event >> detail;
        } catch (const sdbus::Error&) {
            return; // not the signal the interface describes
        }
        if (m_onEvent) {
            m_onEvent(name, event, detail);
        }
    });
}

void NodeDeviceClient::getXml(const std::string& path, Then<std::string> done) {
    m_service.callReturning<std::string>(
        path, names::kNodeDeviceInterface, "GetXML", ServiceClient::kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; }, std::move(done));
}

void NodeDeviceClient::action(const std::string& path, const std::string& method, Options options,
                              Done done) {
    m_service.callVoid(
        path, names::kNodeDeviceInterface, method, ServiceClient::kCallTimeout,
        [&options](sdbus::MethodCall& m) { m << options; }, std::move(done));
}

void NodeDeviceClient::createMdev(const std::string& parent, const std::string& type,
                                  const std::string& uuid, Then<sdbus::ObjectPath> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        names::kNodeDeviceRootPath, names::kNodeDeviceManagerInterface, "CreateMdev",
        ServiceClient::kCallTimeout,
        [&](sdbus::MethodCall& m) { m << parent << type << uuid << Options{}; }, std::move(done));
}

void NodeDeviceClient::lookupScsiHost(const std::string& wwnn, const std::string& wwpn,
                                      Then<sdbus::ObjectPath> done) {
    m_service.callReturning<sdbus::ObjectPath>(
        names::kNodeDeviceRootPath, names::kNodeDeviceManagerInterface, "LookupSCSIHostByWWN",
        ServiceClient::kCallTimeout, [&](sdbus::MethodCall& m) { m << wwnn << wwpn; },
        std::move(done));
}

} // namespace virtswarm::bridge
