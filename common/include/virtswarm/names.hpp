// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Bus names, object paths and interface names shared by more than one process: every
// daemon's in one place, so a client and its daemon cannot spell them differently.
// An object of a kind keyed by UUID lives at <kind path prefix><32 hex digits>
// (service::objectPath); the prefix ends in '_' because a path element cannot start with
// a digit.
namespace virtswarm::names {

inline constexpr const char* kHypervisorBusName = "org.virtswarm.Hypervisor1";
inline constexpr const char* kHypervisorRootPath = "/org/virtswarm/Hypervisor1";
inline constexpr const char* kHypervisorManagerInterface = "org.virtswarm.Hypervisor1.Manager";
inline constexpr const char* kDomainInterface = "org.virtswarm.Hypervisor1.Domain";
inline constexpr const char* kDomainPathPrefix = "/org/virtswarm/Hypervisor1/domain/_";
// A domain's snapshots: <domain path>/snapshot/<escapePathElement(name)>.
inline constexpr const char* kSnapshotInterface = "org.virtswarm.Hypervisor1.Snapshot";

// One bus name per shim: the prefix plus 'd' plus the domain's UUID in 32 hex digits
// (a bus name element cannot start with a digit).
inline constexpr const char* kShimBusNamePrefix = "org.virtswarm.Shim1.d";
inline constexpr const char* kShimNamespace = "org.virtswarm.Shim1";
inline constexpr const char* kShimPath = "/org/virtswarm/Shim1";
inline constexpr const char* kShimInterface = "org.virtswarm.Shim1.Machine";

inline constexpr const char* kNetworkBusName = "org.virtswarm.Network1";
inline constexpr const char* kNetworkRootPath = "/org/virtswarm/Network1";
inline constexpr const char* kNetworkManagerInterface = "org.virtswarm.Network1.Manager";
inline constexpr const char* kNetworkInterface = "org.virtswarm.Network1.Network";
inline constexpr const char* kNetworkPathPrefix = "/org/virtswarm/Network1/network/_";

inline constexpr const char* kStorageBusName = "org.virtswarm.Storage1";
inline constexpr const char* kStorageRootPath = "/org/virtswarm/Storage1";
inline constexpr const char* kStorageManagerInterface = "org.virtswarm.Storage1.Manager";
inline constexpr const char* kStoragePoolInterface = "org.virtswarm.Storage1.Pool";
inline constexpr const char* kStoragePoolPathPrefix = "/org/virtswarm/Storage1/pool/_";
inline constexpr const char* kStorageVolumeInterface = "org.virtswarm.Storage1.Volume";
inline constexpr const char* kStorageJobInterface = "org.virtswarm.Storage1.Job";
inline constexpr const char* kStorageJobPathPrefix = "/org/virtswarm/Storage1/job/";

inline constexpr const char* kLogBusName = "org.virtswarm.Log1";
inline constexpr const char* kLogRootPath = "/org/virtswarm/Log1";
inline constexpr const char* kLogManagerInterface = "org.virtswarm.Log1.Manager";

inline constexpr const char* kLockBusName = "org.virtswarm.Lock1";
inline constexpr const char* kLockRootPath = "/org/virtswarm/Lock1";
inline constexpr const char* kLockManagerInterface = "org.virtswarm.Lock1.Manager";

inline constexpr const char* kNodeDeviceBusName = "org.virtswarm.NodeDevice1";
inline constexpr const char* kNodeDeviceRootPath = "/org/virtswarm/NodeDevice1";
inline constexpr const char* kNodeDeviceManagerInterface = "org.virtswarm.NodeDevice1.Manager";
inline constexpr const char* kNodeDeviceInterface = "org.virtswarm.NodeDevice1.Device";
// Node devices are keyed by their libvirt name (only [A-Za-z0-9_], as libvirt makes
// them), not by a UUID: <prefix><name>, e.g. .../device/pci_0000_00_02_0.
inline constexpr const char* kNodeDevicePathPrefix = "/org/virtswarm/NodeDevice1/device/";

inline constexpr const char* kNWFilterBusName = "org.virtswarm.NWFilter1";
inline constexpr const char* kNWFilterRootPath = "/org/virtswarm/NWFilter1";
inline constexpr const char* kNWFilterManagerInterface = "org.virtswarm.NWFilter1.Manager";
inline constexpr const char* kNWFilterInterface = "org.virtswarm.NWFilter1.Filter";
inline constexpr const char* kNWFilterPathPrefix = "/org/virtswarm/NWFilter1/filter/_";
inline constexpr const char* kNWFilterBindingInterface = "org.virtswarm.NWFilter1.Binding";
// Bindings are keyed by their port device: <prefix><escapePathElement(port)>.
inline constexpr const char* kNWFilterBindingPathPrefix = "/org/virtswarm/NWFilter1/binding/";

} // namespace virtswarm::names
