// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "qemu_command.hpp"
#include "qemu_files.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/paths.hpp"

#include <string>
#include <utility>
#include <vector>

namespace virtswarm::shim {

// The socket of unix channel `index`: its own path, or (libvirt picks one when the XML
// has none) one in the domain's runtime directory.
std::string channelSocketPath(const std::string& runtimeDir, const ChannelDef& channel,
                              size_t index);

// What the tool devices need from the shim before QEMU starts, because QEMU, unprivileged
// and sandboxed, cannot do it itself: listening sockets for channels and unix serial ports
// (bound by the shim, passed as fds), a free SPICE port (QEMU cannot pick one), and the
// swtpm that emulates the TPM (a child of the shim, ended with QEMU).
class DeviceBackends {
public:
    DeviceBackends(EventLoop& loop, QemuIdentity identity, BusMode mode);
    DeviceBackends(const DeviceBackends&) = delete;
    DeviceBackends& operator=(const DeviceBackends&) = delete;
    ~DeviceBackends();

    // Sets up the backends of `domain` and records what only exists at runtime in its XML
    // (socket paths, the SPICE port, aliases). Fills `launch` and appends (shim fd, QEMU fd)
    // pairs to `passFds`, QEMU's fds numbered from `nextChildFd` on. swtpm logs to `logFd`.
    // Sockets at paths the definition names are bound with the definer's rights (`opener`);
    // those in the runtime dir with the shim's own.
    Result<void> prepare(DomainXml& domain, const std::string& runtimeDir, int logFd,
                         const HostPathOpener& opener, QemuLaunch& launch, int& nextChildFd,
                         std::vector<std::pair<int, int>>& passFds);
    // QEMU holds its copies now: the shim's are closed.
    void qemuStarted();
    // QEMU is gone: swtpm goes too.
    void stop();

private:
    Result<int> bindSocket(const std::string& path, const HostPathOpener& opener);
    Result<int> bindSocketHere(const std::string& path);
    Result<void> startSwtpm(const DomainDef& def, int& qemuEnd, int logFd);

    EventLoop& m_loop;
    QemuIdentity m_identity;
    BusMode m_mode;
    std::vector<int> m_qemuFds; // the shim's copies, until QEMU has them
    pid_t m_swtpmPid = 0;
    EventSource m_swtpmWatch;
};

} // namespace virtswarm::shim
