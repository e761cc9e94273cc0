// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace virtswarm::shim {

struct QemuLaunch {
    // The listening QMP socket, already bound by the shim, as QEMU will see it.
    int qmpFd = 3;
    // Start paused (-S): the shim resumes the guest once it holds the monitor.
    bool startPaused = true;
    // QEMU's seccomp filter: no obsolete syscalls, no privilege changes, no spawning.
    bool sandbox = true;
    // Files the shim opened for QEMU: (fd number in QEMU, fd set id). The paths in
    // pathToFdset are then given to QEMU as /dev/fdset/<id>, so QEMU, running
    // unprivileged, needs no access to them.
    std::vector<std::pair<int, int>> addFds;
    std::map<std::string, int> pathToFdset;
    // Output paths whose fd set holds a pipe to virtswarm-logd rather than the file (the
    // shim opened the file, truncating it if asked, and gave it to logd): QEMU appends,
    // as a pipe cannot be truncated.
    std::set<std::string> pipedOutputs;
    // The images below a disk's top image (by the disk's source), top-down, each opened by
    // the shim like the top: QEMU is told every layer, so it never opens a name it read
    // in an image header.
    struct BackingImage {
        std::string path;
        std::string format;
    };
    std::map<std::string, std::vector<BackingImage>> backingChains;
    // NIC index -> fd number in QEMU of its TAP (interfaces of type network or bridge).
    std::map<size_t, int> tapFds;
    // Listening sockets the shim bound for QEMU, by chardev id ("charchannel0",
    // "serial1"): fd number in QEMU.
    std::map<std::string, int> socketFds;
    // The shim's end of the swtpm control socketpair, as QEMU will see it.
    int tpmFd = -1;
    // SPICE port the shim allocated for an autoport <graphics type='spice'>.
    int spicePort = -1;
};

// QEMU's option parser treats ',' as a separator; a literal comma is written twice.
std::string qemuEscapeCommas(const std::string& value);
// The path QEMU is given for a file: its fd set when the shim opened it.
std::string qemuFilePath(const QemuLaunch& launch, const std::string& path);

// The full QEMU command line for a domain. Everything is explicit (-nodefaults,
// -no-user-config), so the guest sees exactly the devices its XML lists.
// The QEMU device for a libvirt NIC model (virtio, e1000, rtl8139).
std::string qemuNicDevice(const std::string& model);

// qemu_devices.cpp: the tool devices (channels, SPICE, video, audio, rng, TPM, watchdog,
// panic, SMBIOS) of a domain.
void addToolDevices(const DomainDef& def, const QemuLaunch& launch, std::vector<std::string>& argv);
// The chardev of a serial port (pty, file, unix, with its log).
std::string qemuSerialChardev(const CharDeviceDef& serial, const std::string& id,
                              const QemuLaunch& launch);

std::vector<std::string> buildQemuArgv(const DomainDef& def, const QemuLaunch& launch);

} // namespace virtswarm::shim
