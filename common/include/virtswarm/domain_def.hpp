// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/device_address.hpp"
#include "virtswarm/domain_platform.hpp"
#include "virtswarm/domain_tool_devices.hpp"
#include "virtswarm/nwfilter_def.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace virtswarm {

inline constexpr const char* kDefaultEmulator = "/usr/bin/qemu-system-x86_64";

// The longest domain name, in bytes: the shim's log file is "<name>.log" and a file name
// is at most NAME_MAX (255) bytes. Everything else on the host is keyed by the UUID.
inline constexpr size_t kMaxDomainNameBytes = 255 - 4;

struct DiskDef {
    std::string device = "disk"; // disk | cdrom | floppy
    std::string format = "raw";  // raw | qcow2
    std::string source; // empty: a cdrom or floppy with no medium (or a volume not resolved)
    // <disk type='volume'><source pool='...' volume='...'/>: a volume of virtswarm-storaged,
    // resolved when the domain starts (the shim then fills `source` and `format` from it).
    std::string volumePool, volumeName;
    std::string targetDev; // vda, sda, ...
    std::string bus;       // virtio | sata | ide | scsi | fdc
    bool readonly = false;
    // <shareable/>: other domains may use the image at the same time (a shared lease).
    bool shareable = false;
    DeviceAddress address; // pci (virtio) or drive (sata, ide, scsi, fdc)

    bool isVolume() const { return !volumeName.empty(); }
};

// A drive whose media is changed or ejected while the disk stays (virsh change-media).
inline bool hasRemovableMedia(const DiskDef& disk) {
    return disk.device == "cdrom" || disk.device == "floppy";
}

// A disk's place among its bus's targets, from the letters after the two-letter prefix:
// "sdb" -> 1, "hdc" -> 2, "fda" -> 0, "sdaa" -> 26 (libvirt's virDiskNameToIndex).
uint32_t diskTargetIndex(const std::string& targetDev);

struct CharDeviceDef {
    std::string type;       // pty | file | unix
    std::string path;       // file: the output file; unix: the socket; pty: filled in at runtime
    bool unixListen = true; // unix: <source mode='bind'> (QEMU listens) or 'connect'
    std::string logFile;    // <log file=...>: a copy of the output
    bool logAppend = false;
};

struct InterfaceDef {
    std::string type = "user"; // user | network | bridge
    std::string source;        // the network's name, or the host bridge's
    std::string hostDevice;    // live XML only: <target dev='vstapN'/>, the TAP on the host
    std::string mac;
    std::string model = "virtio"; // virtio | e1000e | e1000 | rtl8139
    DeviceAddress address;
    // <filterref filter='...'><parameter .../></filterref>: bound to the TAP by networkd
    // (through virtswarm-nwfilterd) before QEMU gets it; network and bridge NICs only.
    std::optional<nwfilter::FilterRef> filterref;
};

// Where a display listens when its definition names no address (libvirt's vnc_listen
// and spice_listen default).
inline constexpr const char* kDefaultGraphicsListen = "127.0.0.1";

struct GraphicsDef {
    std::string type = "vnc"; // vnc | spice
    std::string listen = kDefaultGraphicsListen;
    int port = -1; // -1 with autoport
    bool autoport = true;
    // A VNC or SPICE password (passwd='...'): reaches QEMU over the monitor, never its
    // command line.
    std::optional<std::string> passwd;
    // passwdValidTo='YYYY-MM-DDTHH:MM:SS' (UTC), as seconds since the epoch.
    std::optional<int64_t> passwdValidTo;
    // spice: <image compression='...'/>, empty = QEMU's default.
    std::string imageCompression;
};

// The part of libvirt's domain XML that virtswarm acts on. The XML itself stays the
// definition of record: elements not listed here are kept verbatim (DomainXml).
struct DomainDef {
    std::string virtType; // kvm | qemu
    std::string name;
    UuidBytes uuid{};
    uint64_t memoryKiB = 0;
    uint64_t currentMemoryKiB = 0;
    uint32_t vcpus = 1;        // <vcpu>: the maximum
    uint32_t vcpusCurrent = 1; // <vcpu current='N'>: those online at boot (<= vcpus)
    std::string arch = "x86_64";
    std::string machine; // empty: QEMU's default
    std::string kernel, initrd, cmdline;
    std::vector<std::string> bootDevices; // hd | cdrom | network | fd
    bool acpi = false;
    std::string emulator; // empty: the default for the arch
    std::vector<DiskDef> disks;
    std::vector<CharDeviceDef> serials;
    bool hasConsole = false; // a <console>: shares the first serial port, as in libvirt
    std::vector<InterfaceDef> interfaces;
    std::vector<GraphicsDef> graphics;
    PlatformDef platform;
    std::vector<ControllerDef> controllers;
    std::vector<InputDef> inputs;
    MemballoonDef memballoon;
    ToolDevices tools;
};

// A validated definition plus its XML, normalised: a missing UUID or MAC address is
// generated and written into the XML so it stays stable from then on.
struct DomainXml {
    DomainDef def;
    std::string xml;
    // Who defined (or created) it; not part of the XML. Its host paths are opened with
    // this uid's credentials unless it is root (virtswarm/definer.hpp). Parsing leaves
    // root: whoever builds a DomainXml from a caller's XML sets the caller.
    uid_t definer = 0;
};

// Errors: InvalidXML (malformed, missing or bad values), NotSupported (a domain type,
// architecture or device virtswarm cannot run). Elements virtswarm does not act on and
// that do not change what the guest sees (metadata, description, clock, on_* ...) are kept.
Result<DomainXml> parseDomainXml(std::string_view text);

// The XML as anyone allowed to read the domain sees it: without the VNC passwd (libvirt
// shows it only with VIR_DOMAIN_XML_SECURE and the read-secure permission).
std::string withoutSecrets(const std::string& xml);

// The XML of a running domain: the definition with id='N' on the root element.
std::string liveDomainXml(const std::string& xml, int id);

uint64_t parseMemoryKiB(const std::string& value, const std::string& unit, bool& ok);

} // namespace virtswarm
