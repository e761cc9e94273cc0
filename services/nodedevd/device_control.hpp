// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "node_device.hpp"
#include "sysfs.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <string>

namespace virtswarm::nodedev {

// What changes a device's binding, through the kernel's sysfs interface only:
// PCI detach to vfio-pci (driver_override, unbind, drivers_probe), re-attach, reset, and
// mediated devices (mdev_supported_types/<type>/create, <mdev>/remove). Each checks the
// device first and refuses with a named error before writing anything.
class DeviceControl {
public:
    using Done = std::function<void(Result<void>)>;

    DeviceControl(const Sysfs& sysfs, EventLoop& loop)
        : m_sysfs(sysfs)
        , m_loop(loop) {}

    // Binds the device to vfio-pci; a device already there stays (success).
    void detach(const NodeDevice& device, Done done);
    // Gives the device back to its host driver; a device not on vfio-pci stays (success),
    // as libvirt answers nodedev-reattach of an attached device.
    void reattach(const NodeDevice& device, Done done);
    // A function-level (or bus) reset through the kernel's `reset`; only of a device no
    // host driver uses.
    Result<void> reset(const NodeDevice& device);

    void createMdev(const NodeDevice& parent, const std::string& type, const std::string& uuid,
                    Done done);
    void destroyMdev(const NodeDevice& device, Done done);

private:
    Result<void> requirePci(const NodeDevice& device) const;
    // Writes driver_override, unbinds from the current driver and asks the kernel to probe.
    Result<void> rebind(const NodeDevice& device, const std::string& override) const;

    const Sysfs& m_sysfs;
    EventLoop& m_loop;
};

} // namespace virtswarm::nodedev
