// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The devices virt-install, virt-manager, Cockpit and Boxes add to every guest beside its
// disks and NICs: guest-agent and SPICE channels, video, audio, sound, rng, TPM,
// watchdog, panic notifier and SMBIOS strings. Parsed here, run by the shim.
#include "virtswarm/device_address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace virtswarm {

// <channel type='unix'|'spicevmc'> with <target type='virtio' name='...'/>.
struct ChannelDef {
    std::string type;       // unix | spicevmc
    std::string targetName; // org.qemu.guest_agent.0, com.redhat.spice.0, ...
    // unix: the socket QEMU listens on; empty = one in the domain's runtime directory.
    std::string path;
    DeviceAddress address; // VirtioSerialAddress or none
};

// <video><model type='...'/></video>. Sizes in KiB, 0 = QEMU's default.
struct VideoDef {
    std::string model; // virtio | qxl | vga | bochs | ramfb | none
    uint64_t ramKiB = 0;
    uint64_t vramKiB = 0;
    uint64_t vgamemKiB = 0;
    uint32_t heads = 1;
    DeviceAddress address;
};

// <audio id='N' type='none'|'spice'/>: a QEMU audiodev.
struct AudioDef {
    uint32_t id = 1;
    std::string type;
};

// <sound model='ich9'|'ich6'|'ac97'> and the <audio> it plays to (0: the first one).
struct SoundDef {
    std::string model;
    uint32_t audioId = 0;
    DeviceAddress address;
};

// <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
struct RngDef {
    std::string source = "/dev/urandom";
    uint64_t rateBytes = 0; // <rate bytes= period=>, 0 = unlimited
    uint64_t ratePeriodMs = 0;
    DeviceAddress address;
};

// <tpm model='tpm-crb'|'tpm-tis'><backend type='emulator' version='2.0'/></tpm>: an
// swtpm the shim runs.
struct TpmDef {
    std::string model;
};

// <watchdog model='i6300esb'|'itco' action='...'/>
struct WatchdogDef {
    std::string model;
    std::string action = "reset";
    DeviceAddress address;
};

// <panic model='isa'|'pvpanic'/>
struct PanicDef {
    std::string model = "isa";
    uint32_t ioport = 0x505;
    DeviceAddress address;
};

// <redirdev bus='usb' type='spicevmc'>: a USB device of the SPICE client's machine,
// redirected into the guest (virt-install adds two with SPICE graphics).
struct RedirdevDef {
    DeviceAddress address; // a UsbAddress, or none: the first free port of usb.0
};

// <sysinfo type='smbios'> applied with <os><smbios mode='sysinfo'/>: per SMBIOS table
// type (0 bios, 1 system, 2 baseBoard, 3 chassis, 11 oemStrings), its fields in order.
struct SmbiosTable {
    int type = 0;
    std::vector<std::pair<std::string, std::string>> fields;
};

struct ToolDevices {
    std::vector<ChannelDef> channels;
    std::vector<VideoDef> videos;
    std::vector<AudioDef> audios;
    std::vector<SoundDef> sounds;
    std::vector<RngDef> rngs;
    std::optional<TpmDef> tpm;
    std::optional<WatchdogDef> watchdog;
    std::vector<PanicDef> panics;
    std::vector<RedirdevDef> redirdevs;
    std::vector<SmbiosTable> smbios; // empty unless <os><smbios mode='sysinfo'/>
    // An explicit <controller type='virtio-serial'> exists: channels need none added.
    bool hasVirtioSerialController = false;

    // The index of the unix channel the QEMU guest agent talks on, if there is one.
    std::optional<size_t> guestAgentChannel() const;
};

// The channel name QEMU's guest agent listens on in the guest.
inline constexpr const char* kGuestAgentChannelName = "org.qemu.guest_agent.0";

} // namespace virtswarm
