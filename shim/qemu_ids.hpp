// SPDX-License-Identifier: LGPL-2.1-or-later
// The one place that names QEMU's device and backend ids for a domain's devices. The
// command line (qemu_*.cpp), hotplug and unplug (machine_hotplug.cpp), the live XML's
// <alias> and the statistics (accounting.cpp, machine_stats.cpp) all use these, so the
// id QEMU reports in an event or a query-* answer is always the one we gave it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace virtswarm::shim::qemu_id {

// A disk's device is named after its target ("vda", "sdb"), as libvirt's aliases are.
std::string disk(std::string_view targetDev);
// The block backend of the disk with device id `diskId`: -drive id= / blockdev node-name.
std::string diskNode(std::string_view diskId);
// The opaque tag of the fd sets that hold a disk's images added while the guest runs
// (hotplug, external snapshot overlays), found again by it at unplug — also by a shim
// that re-attached in between.
std::string diskFdset(std::string_view diskId);
// The disk device id back from a backend id (query-blockstats "device"); nullopt for a
// backend these functions did not name.
std::optional<std::string> diskOfNode(std::string_view node);

// The NIC at `index` of the definition QEMU was started with: "net0", "net1", ...
std::string bootNic(size_t index);
// A hotplugged NIC, named by its MAC ("net-525400123456"): indexes shift as NICs come
// and go, a MAC is unique in a domain.
std::string hotplugNic(std::string_view mac);
// The network backend (-netdev id=, netdev_add) of the NIC with device id `nicId`.
std::string nicBackend(std::string_view nicId);
// The name under which the monitor holds the TAP fd of a hotplugged NIC (getfd).
std::string nicTapFd(std::string_view nicId);

// The serial port at `index` ("serial0"): chardev and alias.
std::string serial(size_t index);
std::string input(size_t index);
std::string balloon();
// A vCPU added while the guest runs, by its number ("vcpu1"), as libvirt's aliases.
std::string vcpu(size_t index);
bool isVcpu(std::string_view id);
// The device a DEVICE_DELETED event names: its "device", or the id in its QOM "path"
// (/machine/peripheral/<id>/...). An unplugged x86 vCPU reports only its local APIC's
// path (/machine/peripheral/vcpu2/lapic), never the CPU itself.
std::string deletedDeviceId(std::string_view device, std::string_view path);

} // namespace virtswarm::shim::qemu_id
