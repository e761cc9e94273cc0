// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/names.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/uuid.hpp"

#include <string>
#include <string_view>
#include <vector>

// The one table of which polkit action guards which D-Bus method, and which details the
// check passes. The daemons check it for their bus callers and the libvirt bridge for its
// RPC callers, so the two ways in cannot ask for different rights. Every id here is an
// action of polkit/org.virtswarm.policy (a unit test holds them together).
namespace virtswarm::actions {

// The details a check passes to polkit (and so to rules and the prompt).
enum class Details {
    // <noun>_name and <noun>_uuid of the object the method is called on (objectDetails).
    Object,
    // The same for a named network, or bridge_name for a host bridge (AcquireTap).
    ObjectOrBridge,
    // pool_name, pool_uuid and vol_name of a storage volume (of the volume the method is
    // called on, the one a job writes, or the one being created).
    Volume,
    // domain_uuid of the domain whose disk leases the method is about (virtswarm-lockd,
    // which knows domains by UUID only).
    LeaseOwner,
    // None: the method acts on the daemon itself (ListLeases, Reexec).
    None,
    // port_dev (the TAP) and nwfilter_name of a filter binding (bindingDetails).
    Binding,
    // node_device_name, vendor_id, product_id and device_class of a host device
    // (nodeDeviceDetails); for a new mediated device, those of its parent.
    NodeDevice,
};

struct MethodAction {
    std::string_view interface;
    std::string_view method;
    std::string_view actionId;
    Details details;
    // A second right the method needs besides actionId, checked after it; empty if none.
    // (A domain's CreateXML defines and starts: save, then start.)
    std::string_view alsoActionId = {};
};

inline constexpr MethodAction kMethodActions[] = {
    {names::kNetworkManagerInterface, "DefineXML", "org.virtswarm.network.save", Details::Object},
    {names::kNetworkManagerInterface, "CreateXML", "org.virtswarm.network.start", Details::Object},
    {names::kNetworkManagerInterface, "AcquireTap", "org.virtswarm.network.acquire-tap",
     Details::ObjectOrBridge},
    {names::kNetworkInterface, "Start", "org.virtswarm.network.start", Details::Object},
    {names::kNetworkInterface, "Stop", "org.virtswarm.network.stop", Details::Object},
    {names::kNetworkInterface, "Undefine", "org.virtswarm.network.delete", Details::Object},
    {names::kNetworkInterface, "GetXML", "org.virtswarm.network.read", Details::Object},
    {names::kNetworkInterface, "SetAutostart", "org.virtswarm.network.write", Details::Object},
    {names::kNetworkInterface, "GetDHCPLeases", "org.virtswarm.network.read", Details::Object},
    {names::kHypervisorManagerInterface, "DefineXML", "org.virtswarm.domain.save", Details::Object},
    {names::kHypervisorManagerInterface, "CreateXML", "org.virtswarm.domain.save", Details::Object,
     "org.virtswarm.domain.start"},
    // Of the image's domain; as libvirt's virDomainRestore: save and start.
    {names::kHypervisorManagerInterface, "Restore", "org.virtswarm.domain.save", Details::Object,
     "org.virtswarm.domain.start"},
    {names::kHypervisorManagerInterface, "SaveImageGetXML", "org.virtswarm.domain.read",
     Details::Object},
    {names::kHypervisorManagerInterface, "SaveImageDefineXML", "org.virtswarm.domain.write",
     Details::Object},
    // Per domain; the stats of domains the caller may not read are left out.
    {names::kHypervisorManagerInterface, "GetAllStats", "org.virtswarm.domain.read",
     Details::Object},
    {names::kDomainInterface, "Start", "org.virtswarm.domain.start", Details::Object},
    {names::kDomainInterface, "Shutdown", "org.virtswarm.domain.stop", Details::Object},
    {names::kDomainInterface, "Destroy", "org.virtswarm.domain.stop", Details::Object},
    {names::kDomainInterface, "Undefine", "org.virtswarm.domain.delete", Details::Object},
    {names::kDomainInterface, "GetXML", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "SetAutostart", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "Reboot", "org.virtswarm.domain.init-control", Details::Object},
    {names::kDomainInterface, "Reset", "org.virtswarm.domain.reset", Details::Object},
    {names::kDomainInterface, "Suspend", "org.virtswarm.domain.suspend", Details::Object},
    {names::kDomainInterface, "Resume", "org.virtswarm.domain.suspend", Details::Object},
    {names::kDomainInterface, "GetStats", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "GetJobInfo", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "AbortJob", "org.virtswarm.domain.abort-job", Details::Object},
    // As libvirt (domain:write for the agent source): the shim talks to the guest.
    {names::kDomainInterface, "InterfaceAddresses", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "GetTime", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "GetHostname", "org.virtswarm.domain.write", Details::Object},
    // libvirt's domain:set_time.
    {names::kDomainInterface, "SetTime", "org.virtswarm.domain.set-time", Details::Object},
    {names::kDomainInterface, "OpenConsole", "org.virtswarm.domain.open-console", Details::Object},
    // As libvirt's domain:open_graphics, for both ways of opening a display.
    {names::kDomainInterface, "OpenGraphics", "org.virtswarm.domain.open-graphics",
     Details::Object},
    {names::kDomainInterface, "AddGraphicsClient", "org.virtswarm.domain.open-graphics",
     Details::Object},
    {names::kDomainInterface, "AttachDevice", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "DetachDevice", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "UpdateDevice", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "ManagedSave", "org.virtswarm.domain.hibernate", Details::Object},
    {names::kDomainInterface, "ManagedSaveRemove", "org.virtswarm.domain.hibernate",
     Details::Object},
    {names::kDomainInterface, "ManagedSaveGetXML", "org.virtswarm.domain.read", Details::Object},
    // As libvirt's virDomainManagedSaveDefineXML: domain:write and domain:hibernate.
    {names::kDomainInterface, "ManagedSaveDefineXML", "org.virtswarm.domain.write", Details::Object,
     "org.virtswarm.domain.hibernate"},
    {names::kDomainInterface, "Save", "org.virtswarm.domain.hibernate", Details::Object},
    // As libvirt: domain:snapshot to take, revert to and delete; domain:read to list.
    {names::kDomainInterface, "CreateSnapshot", "org.virtswarm.domain.snapshot", Details::Object},
    {names::kDomainInterface, "ListSnapshots", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "LookupSnapshot", "org.virtswarm.domain.read", Details::Object},
    {names::kSnapshotInterface, "GetXML", "org.virtswarm.domain.read", Details::Object},
    {names::kSnapshotInterface, "Revert", "org.virtswarm.domain.snapshot", Details::Object},
    {names::kSnapshotInterface, "Delete", "org.virtswarm.domain.snapshot", Details::Object},
    // As libvirt: domain:write (virDomainSetMemoryFlags, SetVcpusFlags, SetMetadata),
    // domain:read, domain:send-input and domain:inject-nmi.
    {names::kDomainInterface, "SetMemory", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "SetVcpus", "org.virtswarm.domain.write", Details::Object},
    {names::kDomainInterface, "GetVcpus", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "SendKey", "org.virtswarm.domain.send-input", Details::Object},
    {names::kDomainInterface, "InjectNMI", "org.virtswarm.domain.inject-nmi", Details::Object},
    {names::kDomainInterface, "GetMetadata", "org.virtswarm.domain.read", Details::Object},
    {names::kDomainInterface, "SetMetadata", "org.virtswarm.domain.write", Details::Object},
    // As libvirt's virDomainRename: domain:write and domain:save.
    {names::kDomainInterface, "Rename", "org.virtswarm.domain.write", Details::Object,
     "org.virtswarm.domain.save"},
    {names::kStorageManagerInterface, "DefineXML", "org.virtswarm.storage-pool.save",
     Details::Object},
    {names::kStorageManagerInterface, "CreateXML", "org.virtswarm.storage-pool.start",
     Details::Object},
    {names::kStoragePoolInterface, "Build", "org.virtswarm.storage-pool.format", Details::Object},
    {names::kStoragePoolInterface, "Start", "org.virtswarm.storage-pool.start", Details::Object},
    {names::kStoragePoolInterface, "Stop", "org.virtswarm.storage-pool.stop", Details::Object},
    {names::kStoragePoolInterface, "Refresh", "org.virtswarm.storage-pool.refresh",
     Details::Object},
    {names::kStoragePoolInterface, "Delete", "org.virtswarm.storage-pool.format", Details::Object},
    {names::kStoragePoolInterface, "Undefine", "org.virtswarm.storage-pool.delete",
     Details::Object},
    {names::kStoragePoolInterface, "GetXML", "org.virtswarm.storage-pool.read", Details::Object},
    {names::kStoragePoolInterface, "SetAutostart", "org.virtswarm.storage-pool.write",
     Details::Object},
    {names::kStoragePoolInterface, "CreateVolume", "org.virtswarm.storage-vol.create",
     Details::Volume},
    // Also storage-vol.data-read on the source volume.
    {names::kStoragePoolInterface, "CloneVolume", "org.virtswarm.storage-vol.create",
     Details::Volume},
    {names::kStorageVolumeInterface, "Delete", "org.virtswarm.storage-vol.delete", Details::Volume},
    {names::kStorageVolumeInterface, "Wipe", "org.virtswarm.storage-vol.format", Details::Volume},
    {names::kStorageVolumeInterface, "Resize", "org.virtswarm.storage-vol.resize", Details::Volume},
    {names::kStorageVolumeInterface, "GetXML", "org.virtswarm.storage-vol.read", Details::Volume},
    {names::kStorageVolumeInterface, "Upload", "org.virtswarm.storage-vol.data-write",
     Details::Volume},
    {names::kStorageVolumeInterface, "Download", "org.virtswarm.storage-vol.data-read",
     Details::Volume},
    // A VM's disk: data-write, or kVolumeOpenReadOnlyAction for a read-only one.
    {names::kStorageManagerInterface, "OpenVolume", "org.virtswarm.storage-vol.data-write",
     Details::Volume},
    // Cancelling throws away what the job was writing into its volume.
    {names::kStorageJobInterface, "Cancel", "org.virtswarm.storage-vol.delete", Details::Volume},
    // virtswarm-lockd (polkit/org.virtswarm.lock.policy).
    {names::kLockManagerInterface, "Acquire", "org.virtswarm.lock.acquire", Details::LeaseOwner},
    {names::kLockManagerInterface, "SetProcess", "org.virtswarm.lock.acquire", Details::LeaseOwner},
    {names::kLockManagerInterface, "Release", "org.virtswarm.lock.release", Details::LeaseOwner},
    {names::kLockManagerInterface, "ListLeases", "org.virtswarm.lock.read", Details::None},
    {names::kLockManagerInterface, "Reexec", "org.virtswarm.lock.reexec", Details::None},
    // virtswarm-logd (polkit/org.virtswarm.log.policy). A domain's log is read with the
    // right to read the domain.
    {names::kLogManagerInterface, "OpenStream", "org.virtswarm.log.open", Details::Object},
    {names::kLogManagerInterface, "AdoptStream", "org.virtswarm.log.open", Details::Object},
    {names::kLogManagerInterface, "ReadLog", "org.virtswarm.domain.read", Details::Object},
    {names::kLogManagerInterface, "ListStreams", "org.virtswarm.log.read", Details::None},
    {names::kLogManagerInterface, "Reexec", "org.virtswarm.log.reexec", Details::None},
    // Host devices. libvirt guards detach, re-attach and reset with one right: each hands
    // a device between the host and guests.
    {names::kNodeDeviceInterface, "GetXML", "org.virtswarm.node-device.read", Details::NodeDevice},
    {names::kNodeDeviceInterface, "Detach", "org.virtswarm.node-device.detach",
     Details::NodeDevice},
    {names::kNodeDeviceInterface, "ReAttach", "org.virtswarm.node-device.detach",
     Details::NodeDevice},
    {names::kNodeDeviceInterface, "Reset", "org.virtswarm.node-device.detach", Details::NodeDevice},
    {names::kNodeDeviceInterface, "Destroy", "org.virtswarm.node-device.stop", Details::NodeDevice},
    {names::kNodeDeviceManagerInterface, "CreateMdev", "org.virtswarm.node-device.start",
     Details::NodeDevice},
    // Network filters. As libvirt's nwfilter:write + nwfilter:save for a definition.
    {names::kNWFilterManagerInterface, "DefineXML", "org.virtswarm.nwfilter.write", Details::Object,
     "org.virtswarm.nwfilter.save"},
    {names::kNWFilterInterface, "GetXML", "org.virtswarm.nwfilter.read", Details::Object},
    {names::kNWFilterInterface, "Undefine", "org.virtswarm.nwfilter.delete", Details::Object},
    {names::kNWFilterManagerInterface, "CreateBinding", "org.virtswarm.nwfilter-binding.create",
     Details::Binding},
    {names::kNWFilterManagerInterface, "DeleteBinding", "org.virtswarm.nwfilter-binding.delete",
     Details::Binding},
    {names::kNWFilterManagerInterface, "GetBindingXML", "org.virtswarm.nwfilter-binding.read",
     Details::Binding},
    {names::kNWFilterBindingInterface, "GetXML", "org.virtswarm.nwfilter-binding.read",
     Details::Binding},
};

// The entry for a method; a method missing from the table does not compile.
consteval MethodAction forMethod(std::string_view interface, std::string_view method) {
    for (const auto& entry : kMethodActions) {
        if (entry.interface == interface && entry.method == method) {
            return entry;
        }
    }
    throw "no polkit action for this method in kMethodActions";
}

// Rights a domain method needs on top of its own, only when an option asks for more.
// Start with force-boot discards the managed save image: what ManagedSaveRemove needs.
inline constexpr std::string_view kDomainDiscardSaveAction = "org.virtswarm.domain.hibernate";
// GetXML with secure shows secrets: libvirt's read-secure on top of read.
inline constexpr std::string_view kDomainReadSecureAction = "org.virtswarm.domain.read-secure";

// OpenVolume of a read-only disk needs only to read the volume.
inline constexpr std::string_view kVolumeOpenReadOnlyAction = "org.virtswarm.storage-vol.data-read";

// libvirt's own action (libvirt-daemon-system's org.libvirt.unix.policy), not ours: the
// libvirt bridge asks it once per connection; a yes is full access, as libvirtd gives it.
inline constexpr std::string_view kLibvirtManageAction = "org.libvirt.unix.manage";
// Its read-only counterpart, asked before a read-only connection opens: a gate, not a
// grant (a "no" refuses the connection; a yes still leaves each read to its own check).
inline constexpr std::string_view kLibvirtMonitorAction = "org.libvirt.unix.monitor";

// The action id as Authority takes it.
inline std::string actionId(const MethodAction& entry) {
    return std::string(entry.actionId);
}

// Every action the method needs, in order, as Authority::checkBusNameForAll takes them.
std::vector<std::string> actionIds(const MethodAction& entry);

// Details::Object: <noun>_name and <noun>_uuid (dashed), e.g. network_name, network_uuid.
PolkitDetails objectDetails(std::string_view noun, const std::string& name, const UuidBytes& uuid);

// Details::NodeDevice. Ids as in the device's XML ("0x1af4"); empty where the device has
// none (a net or block device).
PolkitDetails nodeDeviceDetails(const std::string& name, const std::string& vendorId,
                                const std::string& productId, const std::string& deviceClass);

// Details::Binding.
PolkitDetails bindingDetails(const std::string& portDev, const std::string& filterName);

} // namespace virtswarm::actions
