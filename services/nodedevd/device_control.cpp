// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_control.hpp"

#include "settle_wait.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::nodedev {
namespace {

constexpr const char* kVfioDriver = "vfio-pci";
constexpr std::chrono::seconds kSettleLimit{5};

} // namespace

Result<void> DeviceControl::requirePci(const NodeDevice& device) const {
    if (!device.is("pci") || device.pciAddress.empty()) {
        return Error(Code::InvalidArgs, "device '" + device.name + "' is not a PCI device");
    }
    return success();
}

Result<void> DeviceControl::rebind(const NodeDevice& device, const std::string& override) const {
    // driver_override decides which driver the probe picks; "\n" clears it.
    if (auto r = m_sysfs.write(device.sysfsDir + "/driver_override", override); !r) {
        return r;
    }
    std::string driver = m_sysfs.linkName(device.sysfsDir + "/driver");
    if (!driver.empty()) {
        if (auto r = m_sysfs.write(device.sysfsDir + "/driver/unbind", device.pciAddress); !r) {
            return r;
        }
    }
    return m_sysfs.write("bus/pci/drivers_probe", device.pciAddress);
}

void DeviceControl::detach(const NodeDevice& device, Done done) {
    if (auto r = requirePci(device); !r) {
        done(r);
        return;
    }
    if (device.driver == kVfioDriver) {
        done(success());
        return;
    }
    if (!m_sysfs.exists("bus/pci/drivers/vfio-pci")) {
        done(Error(Code::OperationFailed,
                   "the vfio-pci driver is not loaded (modprobe vfio-pci), cannot detach '" +
                       device.name + "'"));
        return;
    }
    if (!m_sysfs.exists(device.sysfsDir + "/driver_override")) {
        done(Error(Code::NotSupported,
                   "the kernel offers no driver_override for '" + device.name + "'"));
        return;
    }
    if (auto r = rebind(device, kVfioDriver); !r) {
        done(r);
        return;
    }
    std::string dir = device.sysfsDir;
    std::string name = device.name;
    waitUntilSettled(
        m_loop, [this, dir] { return m_sysfs.linkName(dir + "/driver") == kVfioDriver; },
        "'" + name + "' to be bound to vfio-pci", kSettleLimit,
        [this, device, done](Result<void> r) {
            if (!r) {
                // Give the device back to whoever takes it without the override.
                if (auto undo = rebind(device, "\n"); !undo) {
                    log::warning("undoing the detach of " + device.name + ": " +
                                 undo.error().message());
                }
                done(Error(Code::OperationFailed, "cannot bind '" + device.name +
                                                      "' to vfio-pci: " + r.error().message()));
                return;
            }
            log::info("detached " + device.name + " to vfio-pci");
            done(success());
        });
}

void DeviceControl::reattach(const NodeDevice& device, Done done) {
    if (auto r = requirePci(device); !r) {
        done(r);
        return;
    }
    if (device.driver != kVfioDriver) {
        done(success());
        return;
    }
    if (auto r = rebind(device, "\n"); !r) {
        done(r);
        return;
    }
    std::string dir = device.sysfsDir;
    waitUntilSettled(
        m_loop, [this, dir] { return m_sysfs.linkName(dir + "/driver") != kVfioDriver; },
        "'" + device.name + "' to leave vfio-pci", kSettleLimit,
        [name = device.name, done](Result<void> r) {
            if (r) {
                log::info("re-attached " + name + " to its host driver");
            }
            done(r);
        });
}

Result<void> DeviceControl::reset(const NodeDevice& device) {
    if (auto r = requirePci(device); !r) {
        return r;
    }
    if (!device.driver.empty() && device.driver != kVfioDriver) {
        return Error(Code::InvalidState, "device '" + device.name + "' is in use by host driver '" +
                                             device.driver + "'; detach it first");
    }
    if (!m_sysfs.exists(device.sysfsDir + "/reset")) {
        return Error(Code::NotSupported, "the kernel cannot reset '" + device.name + "'");
    }
    if (auto r = m_sysfs.write(device.sysfsDir + "/reset", "1"); !r) {
        return r;
    }
    log::info("reset " + device.name);
    return success();
}

void DeviceControl::createMdev(const NodeDevice& parent, const std::string& type,
                               const std::string& uuid, Done done) {
    auto parsed = parseUuid(uuid);
    if (!parsed) {
        done(parsed.takeError());
        return;
    }
    std::string canonical = formatUuid(parsed.value());
    std::string typeDir = parent.sysfsDir + "/mdev_supported_types/" + type;
    bool plainType =
        !type.empty() && type.find('/') == std::string::npos && type != "." && type != "..";
    if (!plainType || !parent.is("mdev_types") || !m_sysfs.exists(typeDir + "/create")) {
        done(Error(Code::InvalidArgs,
                   "device '" + parent.name + "' offers no mediated device type '" + type + "'"));
        return;
    }
    if (m_sysfs.exists("bus/mdev/devices/" + canonical)) {
        done(Error(Code::NodeDeviceExists, "a mediated device " + canonical + " already exists"));
        return;
    }
    if (m_sysfs.readNumber(typeDir + "/available_instances").value_or(0) <= 0) {
        done(Error(Code::OperationFailed,
                   "no instance of '" + type + "' is left on '" + parent.name + "'"));
        return;
    }
    if (auto r = m_sysfs.write(typeDir + "/create", canonical); !r) {
        done(r);
        return;
    }
    waitUntilSettled(
        m_loop, [this, canonical] { return m_sysfs.exists("bus/mdev/devices/" + canonical); },
        "mediated device " + canonical + " to appear", kSettleLimit, std::move(done));
}

void DeviceControl::destroyMdev(const NodeDevice& device, Done done) {
    if (!device.is("mdev") || device.mdevUuid.empty()) {
        done(Error(Code::InvalidArgs, "device '" + device.name + "' is not a mediated device"));
        return;
    }
    if (auto r = m_sysfs.write(device.sysfsDir + "/remove", "1"); !r) {
        done(r);
        return;
    }
    std::string uuid = device.mdevUuid;
    waitUntilSettled(
        m_loop, [this, uuid] { return !m_sysfs.exists("bus/mdev/devices/" + uuid); },
        "mediated device " + uuid + " to go", kSettleLimit, std::move(done));
}

} // namespace virtswarm::nodedev
