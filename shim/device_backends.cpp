// SPDX-License-Identifier: LGPL-2.1-or-later
#include "device_backends.hpp"

#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/child_process.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/tpm_state.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

constexpr const char* kSwtpm = "/usr/bin/swtpm";
// swtpm's end of the control socketpair, in swtpm.
constexpr int kSwtpmCtrlFd = 3;

Error failed(const std::string& what, int err) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(err));
}

// Whether `port` is free on `listen` (bind probe; QEMU binds it shortly after).
bool portIsFree(const std::string& listen, int port) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET6, listen.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        length = sizeof *v6;
    } else {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET, listen.c_str(), &v4->sin_addr) != 1) {
            v4->sin_addr.s_addr = htonl(INADDR_ANY); // a host name: probe everywhere
        }
        length = sizeof *v4;
    }
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    int one = 1;
    // As QEMU binds: ports in TIME_WAIT count as free.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0;
    ::close(fd);
    return ok;
}

Result<int> allocateSpicePort(const DomainDef& def, const GraphicsDef& spice) {
    // QEMU's VNC autoport takes 5900-5999 when both run; SPICE stays clear of it then.
    bool vnc = false;
    for (const auto& g : def.graphics) {
        vnc = vnc || (g.type == "vnc" && g.autoport);
    }
    for (int port = vnc ? 6000 : 5900; port <= 65535; ++port) {
        if (portIsFree(spice.listen, port)) {
            return port;
        }
    }
    return Error(Code::OperationFailed, "no free SPICE port from 5900 to 65535");
}

} // namespace

std::string channelSocketPath(const std::string& runtimeDir, const ChannelDef& channel,
                              size_t index) {
    return channel.path.empty() ? runtimeDir + "/channel" + std::to_string(index) + ".sock"
                                : channel.path;
}

DeviceBackends::DeviceBackends(EventLoop& loop, QemuIdentity identity, BusMode mode)
    : m_loop(loop)
    , m_identity(std::move(identity))
    , m_mode(mode) {}

// swtpm is left running: QEMU outlives a restarting shim, and swtpm ends with QEMU.
DeviceBackends::~DeviceBackends() {
    qemuStarted();
}

Result<int> DeviceBackends::bindSocket(const std::string& path, const HostPathOpener& opener) {
    // bind creates a file: at a path the definition names, only where the definer could.
    int bound = -1;
    auto r = opener.withRights(path, [&]() -> Result<void> {
        auto fd = bindSocketHere(path);
        if (!fd) {
            return fd.takeError();
        }
        bound = fd.value();
        return success();
    });
    if (!r) {
        return r.takeError();
    }
    return bound;
}

Result<int> DeviceBackends::bindSocketHere(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return Error(Code::OperationFailed, "socket path too long: " + path);
    }
    std::strcpy(addr.sun_path, path.c_str());
    // A socket left by a previous run is replaced; any other file is not ours to remove.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return failed("socket", errno);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 1) < 0) {
        int err = errno;
        ::close(fd);
        return failed("cannot listen on " + path, err);
    }
    return fd;
}

Result<void> DeviceBackends::startSwtpm(const DomainDef& def, int& qemuEnd, int logFd) {
    std::string dir = tpmStateDir(m_mode, def.uuid);
    if (dir.find(',') != std::string::npos) {
        return Error(Code::OperationFailed, "the TPM state directory has a comma: " + dir);
    }
    auto slash = dir.rfind('/');
    if (auto r = makeDirectories(dir.substr(0, slash), 0755); !r) {
        return r;
    }
    // The state is the guest's secret: only the QEMU user (who runs swtpm) reads it.
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
        return failed("mkdir " + dir, errno);
    }
    if (m_identity.uid && ::chown(dir.c_str(), *m_identity.uid, m_identity.gid.value_or(0)) < 0) {
        return failed("chown " + dir, errno);
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        return failed("socketpair", errno);
    }
    SpawnOptions spawn;
    // --terminate: swtpm ends when QEMU closes the control channel, i.e. when QEMU goes.
    spawn.argv = {kSwtpm,
                  "socket",
                  "--tpm2",
                  "--tpmstate",
                  "dir=" + dir,
                  "--ctrl",
                  "type=unixio,clientfd=" + std::to_string(kSwtpmCtrlFd),
                  "--terminate"};
    spawn.passFds = {{pair[1], kSwtpmCtrlFd}};
    spawn.stdoutFd = logFd;
    spawn.stderrFd = logFd;
    spawn.uid = m_identity.uid;
    spawn.gid = m_identity.gid;
    auto pid = spawnProcess(spawn);
    ::close(pair[1]);
    if (!pid) {
        ::close(pair[0]);
        return pid.takeError().prefix("starting swtpm");
    }
    m_swtpmPid = pid.value();
    m_swtpmWatch = m_loop.addChild(m_swtpmPid, [this](const siginfo_t& info) {
        log::info("swtpm " + describeExit(info));
        m_swtpmPid = 0;
        m_swtpmWatch.reset();
    });
    qemuEnd = pair[0];
    return success();
}

Result<void> DeviceBackends::prepare(DomainXml& domain, const std::string& runtimeDir, int logFd,
                                     const HostPathOpener& opener, QemuLaunch& launch,
                                     int& nextChildFd, std::vector<std::pair<int, int>>& passFds) {
    const DomainDef& def = domain.def;
    auto passToQemu = [&](int fd) {
        m_qemuFds.push_back(fd);
        passFds.emplace_back(fd, nextChildFd);
        return nextChildFd++;
    };
    std::vector<std::string> channelPaths(def.tools.channels.size());
    for (size_t i = 0; i < def.tools.channels.size(); ++i) {
        const ChannelDef& c = def.tools.channels[i];
        if (c.type != "unix") {
            continue;
        }
        channelPaths[i] = channelSocketPath(runtimeDir, c, i);
        static const HostPathOpener ownRights;
        auto fd = bindSocket(channelPaths[i], c.path.empty() ? ownRights : opener);
        if (!fd) {
            return fd.takeError();
        }
        launch.socketFds["charchannel" + std::to_string(i)] = passToQemu(fd.value());
    }
    for (size_t i = 0; i < def.serials.size(); ++i) {
        const CharDeviceDef& serial = def.serials[i];
        if (serial.type == "unix" && serial.unixListen) {
            auto fd = bindSocket(serial.path, opener);
            if (!fd) {
                return fd.takeError();
            }
            launch.socketFds[qemu_id::serial(i)] = passToQemu(fd.value());
        }
    }
    for (const auto& g : def.graphics) {
        if (g.type == "spice" && g.autoport) {
            auto port = allocateSpicePort(def, g);
            if (!port) {
                return port.takeError();
            }
            launch.spicePort = port.value();
            break;
        }
    }
    if (def.tools.tpm) {
        int qemuEnd = -1;
        if (auto r = startSwtpm(def, qemuEnd, logFd); !r) {
            return r;
        }
        launch.tpmFd = passToQemu(qemuEnd);
    }
    auto live = withToolDeviceRuntime(domain, channelPaths, launch.spicePort);
    if (!live) {
        return live.takeError();
    }
    domain = std::move(live).value();
    return success();
}

void DeviceBackends::qemuStarted() {
    for (int fd : m_qemuFds) {
        ::close(fd);
    }
    m_qemuFds.clear();
}

void DeviceBackends::stop() {
    if (m_swtpmPid > 0) {
        ::kill(m_swtpmPid, SIGTERM);
    }
}

} // namespace virtswarm::shim
