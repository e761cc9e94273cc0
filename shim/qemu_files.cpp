// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_files.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm::shim {

Result<QemuIdentity> qemuIdentity(bool systemMode) {
    if (!systemMode) {
        return QemuIdentity{};
    }
    const char* env = std::getenv("VIRTSWARM_QEMU_USER");
    std::string user = env != nullptr && env[0] != '\0' ? env : "virtswarm-qemu";
    const passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) {
        return Error(Code::OperationFailed,
                     "the QEMU user '" + user +
                         "' does not exist; it is created at install (see docs/security.md)");
    }
    if (pw->pw_uid == 0) {
        log::warning("QEMU runs as root: VIRTSWARM_QEMU_USER names a privileged user");
    }
    return QemuIdentity{pw->pw_uid, pw->pw_gid, user};
}

QemuFiles::~QemuFiles() {
    for (auto [fd, childFd] : m_passFds) {
        ::close(fd);
    }
}

Result<QemuFiles> QemuFiles::open(const DomainDef& def, QemuLaunch& launch, int firstChildFd) {
    QemuFiles files;
    int nextChildFd = firstChildFd;
    int nextSet = 1;
    // QEMU reopens images with the access mode it needs (read-only probing, read-write
    // use), and picks an fd of the matching mode from the set: give it both.
    auto addToSet = [&](const std::string& path,
                        std::initializer_list<int> flagsList) -> Result<void> {
        if (launch.pathToFdset.count(path) > 0) {
            return success();
        }
        int set = nextSet++;
        for (int flags : flagsList) {
            int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
            if (fd < 0) {
                return Error(Code::OperationFailed,
                             "cannot open " + path + ": " + std::strerror(errno));
            }
            files.m_passFds.emplace_back(fd, nextChildFd);
            launch.addFds.emplace_back(nextChildFd, set);
            ++nextChildFd;
        }
        launch.pathToFdset[path] = set;
        return success();
    };
    for (const auto& disk : def.disks) {
        if (disk.source.empty()) {
            continue;
        }
        auto r = disk.readonly ? addToSet(disk.source, {O_RDONLY})
                               : addToSet(disk.source, {O_RDWR, O_RDONLY});
        if (!r) {
            return r.takeError();
        }
    }
    for (const auto& serial : def.serials) {
        if (serial.type == "file") {
            // QEMU itself would truncate (libvirt's default, append='off').
            if (auto r = addToSet(serial.path, {O_WRONLY | O_CREAT | O_TRUNC}); !r) {
                return r.takeError();
            }
        }
        if (!serial.logFile.empty()) {
            int mode = serial.logAppend ? O_APPEND : O_TRUNC;
            if (auto r = addToSet(serial.logFile, {O_WRONLY | O_CREAT | mode}); !r) {
                return r.takeError();
            }
        }
    }
    return files;
}

void dropShimPrivileges() {
    if (geteuid() != 0) {
        return;
    }
    // Kept: open any image or log (DAC_OVERRIDE, DAC_READ_SEARCH), signal QEMU running as
    // another user (KILL). Everything else — setuid, mounts, raw I/O, modules — is gone.
    constexpr unsigned kKeep[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_KILL};
    unsigned long lastCap = CAP_LAST_CAP;
    if (auto text = readFile("/proc/sys/kernel/cap_last_cap", 32)) {
        lastCap = std::strtoul(text.value().c_str(), nullptr, 10);
    }
    auto kept = [&](unsigned long cap) {
        for (unsigned k : kKeep) {
            if (k == cap) {
                return true;
            }
        }
        return false;
    };
    for (unsigned long cap = 0; cap <= lastCap; ++cap) {
        if (!kept(cap)) {
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
    }
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (unsigned k : kKeep) {
        data[k / 32].effective |= 1U << (k % 32);
        data[k / 32].permitted |= 1U << (k % 32);
    }
    if (syscall(SYS_capset, &header, data) < 0) {
        log::warning(std::string("cannot drop capabilities: ") + std::strerror(errno));
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

} // namespace virtswarm::shim
