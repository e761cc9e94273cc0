// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The machine around the devices: machine type, CPU, <features>, <clock>, <pm>, firmware,
// the on_* lifecycle actions, and the controllers, inputs and balloon that libvirt tools
// add to every domain. Parsed by parseDomainXml (common/src/domain_platform.cpp,
// domain_controllers.cpp); run by the shim (shim/qemu_platform.cpp, qemu_controllers.cpp).
#include "virtswarm/device_address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace virtswarm {

// True for "q35" and the versioned "pc-q35-X.Y"; false for "pc", "pc-i440fx-X.Y".
bool isQ35Machine(const std::string& machine);
// The machine types virtswarm runs: pc, q35 and their versioned types (not microvm,
// isapc, xenfv, ...).
bool isSupportedMachine(const std::string& machine);

struct CpuDef {
    // empty (no <cpu> or no mode: QEMU's default model), host-passthrough, host-model,
    // maximum, custom.
    std::string mode;
    std::string model; // custom: a QEMU CPU model name
    // custom: (name, enabled) from <feature policy='require|force|disable|forbid'>.
    std::vector<std::pair<std::string, bool>> features;
};

// <features><hyperv>: the enlightenments, as QEMU's hv_* CPU properties. Values are
// "on" or, for spinlocks and vendor_id, the value QEMU takes.
struct HypervDef {
    std::vector<std::pair<std::string, std::string>> flags;
};

struct FirmwareDef {
    bool efi = false;               // <os firmware='efi'> or a pflash <loader>
    bool autoSelect = false;        // firmware='efi': the loader comes from QEMU's descriptors
    std::optional<bool> secureBoot; // <loader secure=...>/<feature name='secure-boot'>
    std::string loader;             // explicit <loader> path
    std::string loaderType;         // rom | pflash
    std::string nvram;              // explicit <nvram> path; empty: the per-VM default
    // Set when resolving filled in the per-VM default: a file of the swarm's own state
    // dir, not a path the definer named (so the shim opens it with its own rights).
    bool nvramInStateDir = false;
    std::string nvramTemplate; // <nvram template=...>
};

struct PlatformDef {
    CpuDef cpu;
    FirmwareDef firmware;
    std::optional<bool> vmport; // <vmport state=...>
    std::optional<bool> smm;    // <smm state=...>
    HypervDef hyperv;
    std::string clockOffset = "utc"; // utc | localtime
    bool rtcCatchup = false;         // <timer name='rtc' tickpolicy='catchup'>: driftfix=slew
    std::optional<bool> hpet;        // <timer name='hpet' present=...>
    bool pitDelay = false;           // <timer name='pit' tickpolicy='delay'>
    bool hypervClock = false;        // <timer name='hypervclock' present='yes'>: hv_time
    std::optional<bool> suspendToMem, suspendToDisk; // <pm>
    // destroy | restart | preserve (libvirt's defaults: destroy, restart, destroy).
    std::string onPoweroff = "destroy";
    std::string onReboot = "restart";
    std::string onCrash = "destroy";
};

struct ControllerDef {
    std::string type; // pci | usb | scsi | sata | ide | virtio-serial
    uint32_t index = 0;
    bool indexGiven = false; // without index=, libvirt numbers controllers itself
    std::string model;       // pci: pcie-root, pcie-root-port, ...; usb: qemu-xhci, ...
    std::string modelName;   // pci: <model name=...>, the QEMU device
    std::optional<uint32_t> chassis, port;   // pci: <target chassis port>
    std::optional<uint32_t> usbPorts;        // usb: ports='15' (qemu-xhci)
    std::optional<uint32_t> masterStartPort; // usb companions: <master startport>
    DeviceAddress address;
};

struct InputDef {
    std::string type; // tablet | keyboard | mouse
    std::string bus;  // usb | virtio | ps2
    DeviceAddress address;
};

struct MemballoonDef {
    std::string model = "none"; // virtio | none
    uint32_t statsPeriod = 0;   // seconds; 0: no guest statistics
    DeviceAddress address;
};

} // namespace virtswarm
