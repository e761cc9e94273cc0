// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "node_device.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.NodeDevice1.Device_adaptor.h>

namespace virtswarm::nodedev {

class DeviceRegistry;

// One host device on the bus. Reading is open to all by default; everything that hands
// the device between host and guests asks polkit with the device's ids.
class DeviceObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::NodeDevice1::Device_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    // Made by DeviceRegistry::rescan, which announces it on the bus.
    DeviceObject(DeviceRegistry& registry, const std::string& path, NodeDevice device);
    ~DeviceObject();

    const NodeDevice& device() const { return m_device; }
    // A rescan found the device again: what changed is announced.
    void update(NodeDevice device);
    PolkitDetails details() const;

private:
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void Detach(sdbus::Result<>&& result, Options options) override;
    void ReAttach(sdbus::Result<>&& result, Options options) override;
    void Reset(sdbus::Result<>&& result, Options options) override;
    void Destroy(sdbus::Result<>&& result, Options options) override;
    std::string Name() override { return m_device.name; }
    std::string Parent() override { return m_device.parent; }
    std::string Path() override { return "/sys/" + m_device.sysfsDir; }
    std::string Driver() override { return m_device.driver; }
    std::vector<std::string> Capabilities() override { return m_device.capabilities; }
    std::string VendorId() override { return m_device.vendorId; }
    std::string ProductId() override { return m_device.productId; }
    std::string DeviceClass() override { return m_device.deviceClass; }

    // The reply of an operation that changed the tree, after which the registry looks again.
    std::function<void(Result<void>)> replyAndRescan(const SharedResult<>& shared);

    DeviceRegistry& m_registry;
    NodeDevice m_device;
    service::MethodGate m_gate;
};

} // namespace virtswarm::nodedev
