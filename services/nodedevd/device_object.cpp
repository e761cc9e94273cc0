// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_object.hpp"

#include "registry.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::nodedev {
namespace {

constexpr auto kGetXML = actions::forMethod(names::kNodeDeviceInterface, "GetXML");
constexpr auto kDetach = actions::forMethod(names::kNodeDeviceInterface, "Detach");
constexpr auto kReAttach = actions::forMethod(names::kNodeDeviceInterface, "ReAttach");
constexpr auto kReset = actions::forMethod(names::kNodeDeviceInterface, "Reset");
constexpr auto kDestroy = actions::forMethod(names::kNodeDeviceInterface, "Destroy");

// libvirt's nodeDeviceDetachFlags takes a driver name; only VFIO is left in the kernel.
Result<void> checkDriverOption(const Options& options) {
    auto driver = stringOption(options, "driver", "");
    if (!driver) {
        return driver.error();
    }
    if (!driver.value().empty() && driver.value() != "vfio") {
        return Error(Code::InvalidArgs, "unknown driver '" + driver.value() + "': only 'vfio'");
    }
    return success();
}

} // namespace

DeviceObject::DeviceObject(DeviceRegistry& registry, const std::string& path, NodeDevice device)
    : AdaptorInterfaces(registry.connection(), path)
    , m_registry(registry)
    , m_device(std::move(device))
    , m_gate(
          getObject(), registry.authority(), [this] { return details(); },
          [this] {
              return Error(Code::NoSuchNodeDevice,
                           "node device '" + m_device.name + "' no longer exists");
          }) {
    registerAdaptor();
}

DeviceObject::~DeviceObject() {
    unregisterAdaptor();
}

PolkitDetails DeviceObject::details() const {
    return actions::nodeDeviceDetails(m_device.name, m_device.vendorId, m_device.productId,
                                      m_device.deviceClass);
}

void DeviceObject::update(NodeDevice device) {
    if (device.xml == m_device.xml) {
        return;
    }
    std::vector<std::string> changed;
    if (device.parent != m_device.parent) {
        changed.emplace_back("Parent");
    }
    if (device.sysfsDir != m_device.sysfsDir) {
        changed.emplace_back("Path");
    }
    if (device.driver != m_device.driver) {
        changed.emplace_back("Driver");
    }
    if (device.capabilities != m_device.capabilities) {
        changed.emplace_back("Capabilities");
    }
    m_device = std::move(device);
    if (!changed.empty()) {
        emitPropertiesChangedSignal(Device_adaptor::INTERFACE_NAME, changed);
    }
}

std::function<void(Result<void>)> DeviceObject::replyAndRescan(const SharedResult<>& shared) {
    DeviceRegistry* registry = &m_registry;
    return [registry, shared](Result<void> r) {
        reply(shared, r);
        registry->requestRescan();
    };
}

void DeviceObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    m_gate.handle(
        std::move(result), checkOptions(options, {}), kGetXML,
        [this](const SharedResult<std::string>& shared) { shared->returnResults(m_device.xml); });
}

void DeviceObject::Detach(sdbus::Result<>&& result, Options options) {
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"driver"}), checkDriverOption(options)), kDetach,
        [this](const SharedResult<>& shared) {
            m_registry.control().detach(m_device, replyAndRescan(shared));
        });
}

void DeviceObject::ReAttach(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kReAttach,
                  [this](const SharedResult<>& shared) {
                      m_registry.control().reattach(m_device, replyAndRescan(shared));
                  });
}

void DeviceObject::Reset(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kReset,
                  [this](const SharedResult<>& shared) {
                      replyAndRescan(shared)(m_registry.control().reset(m_device));
                  });
}

void DeviceObject::Destroy(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kDestroy,
                  [this](const SharedResult<>& shared) {
                      m_registry.control().destroyMdev(m_device, replyAndRescan(shared));
                  });
}

} // namespace virtswarm::nodedev
