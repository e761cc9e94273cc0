// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"

#include <string>
#include <vector>

namespace virtswarm {

// One device for hotplug: a <disk> or an <interface> element.
struct DeviceSpec {
    enum class Kind { Disk, Interface };
    Kind kind;
    DiskDef disk;
    InterfaceDef nic;
    std::string xml; // the element, normalised (a generated MAC included)
};

// Errors: InvalidXML, NotSupported (other device kinds).
Result<DeviceSpec> parseDeviceXml(std::string_view xml);

// The definition with the device appended to <devices>, validated as a whole (a
// duplicate disk target or MAC is InvalidXML).
Result<DomainXml> withDeviceAdded(const DomainXml& domain, const DeviceSpec& device);
// The definition without the matching device (disk by target dev, interface by MAC).
// Error: InvalidArgs when there is no such device.
Result<DomainXml> withDeviceRemoved(const DomainXml& domain, const DeviceSpec& device);

// A device for UpdateDevice (libvirt's virDomainUpdateDeviceFlags): only the <disk> of a
// cdrom or floppy, whose media changes (a <source>: insert; none: eject). Other devices are
// refused as libvirt refuses them: OperationUnsupported for a `live` update,
// ConfigUnsupported for a persistent one.
Result<DeviceSpec> parseMediaChange(std::string_view xml, bool live);
// The definition with the cdrom or floppy at the device's target holding the device's media (its
// <source> and <driver>); the disk keeps its address and alias. Errors: DeviceMissing
// (no such target), OperationUnsupported / ConfigUnsupported (`live` as above) when the
// target has no removable media or the update would move it to another bus.
Result<DomainXml> withMediaChanged(const DomainXml& domain, const DeviceSpec& device, bool live);

// The definition with the file disk at `target` on the qcow2 overlay an external snapshot
// put over its image: <source file=`overlay`/>, <driver type='qcow2'/>, any recorded
// <backingStore> dropped. Errors: DeviceMissing (no such target), ConfigUnsupported (not a
// file disk).
Result<DomainXml> withDiskOverlay(const DomainXml& domain, const std::string& target,
                                  const std::string& overlay);

// Sets <alias name='...'/> on the n-th element called `element` under <devices>, as the
// live XML shows QEMU's device ids.
Result<DomainXml> withAlias(const DomainXml& domain, const std::string& element, size_t index,
                            const std::string& alias);
// Sets <target dev='...'/> on the n-th <interface>: the host-side TAP in the live XML.
Result<DomainXml> withInterfaceTarget(const DomainXml& domain, size_t index,
                                      const std::string& hostDevice);
// The runtime side of the tool devices in the live XML (domain_tool_devices_live.cpp):
// each unix channel's socket (`channelPaths`, by channel index), the SPICE port QEMU
// listens on (-1: unchanged) and the aliases of channels, sound, rng, TPM and watchdog.
Result<DomainXml> withToolDeviceRuntime(const DomainXml& domain,
                                        const std::vector<std::string>& channelPaths,
                                        int spicePort);
// The port the first <graphics type=`type`> listens on, as QEMU reported it.
Result<DomainXml> withGraphicsPort(const DomainXml& domain, std::string_view type, int port);
// <target state='connected'|'disconnected'/> of the channel whose alias is `alias`.
Result<DomainXml> withChannelState(const DomainXml& domain, const std::string& alias,
                                   bool connected);
// The alias recorded for a device matching `device`, or empty.
std::string aliasOf(const DomainXml& domain, const DeviceSpec& device);

} // namespace virtswarm
