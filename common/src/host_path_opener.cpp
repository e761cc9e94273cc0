// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/host_path_opener.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm {
namespace {

// No symbolic link anywhere in the path (openat2, Linux 5.6); where openat2 is missing,
// at least none in the last component.
int openWithoutSymlinks(const std::string& path, int flags, mode_t mode) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags);
    how.mode = mode;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
    if (fd < 0 && errno == ENOSYS) {
        fd = ::open(path.c_str(), flags | O_NOFOLLOW, mode);
    }
    return fd;
}

} // namespace

Result<HostPathOpener> HostPathOpener::forDefiner(uid_t definer) {
    HostPathOpener opener;
    if (definer == 0 || geteuid() != 0) {
        return opener;
    }
    auto credentials = credentialsOf(definer);
    if (!credentials) {
        return credentials.takeError();
    }
    opener.m_definer = std::move(credentials).value();
    return opener;
}

uid_t HostPathOpener::owner() const {
    return m_definer ? m_definer->uid : geteuid();
}

std::string HostPathOpener::who() const {
    return "uid " + std::to_string(owner());
}

Result<int> HostPathOpener::asOwner(const std::string& path,
                                    const std::function<Result<int>()>& open) const {
    if (!m_definer) {
        return open();
    }
    auto r = asDefiner(*m_definer, open);
    if (!r && r.error().code() == Code::Internal) { // could not take the definer's identity
        return r.takeError().prefix("opening " + path);
    }
    return r;
}

Result<int> HostPathOpener::openImage(const std::string& path, int accessMode,
                                      const std::string& what) const {
    return asOwner(path, [&]() -> Result<int> {
        int fd = ::open(path.c_str(), accessMode | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            return fd;
        }
        int error = errno;
        Code code = m_definer && (error == EACCES || error == EPERM) ? Code::AccessDenied
                                                                     : Code::OperationFailed;
        return Error(code,
                     who() + " cannot open " + path + " (" + what + "): " + std::strerror(error));
    });
}

Result<int> HostPathOpener::openOutput(const std::string& path, const std::string& what,
                                       bool append) const {
    auto opened = asOwner(path, [&]() -> Result<int> {
        // No O_TRUNC: nothing is changed before the file is known to be ours. O_NONBLOCK:
        // a FIFO planted there must not hang the shim.
        int fd =
            openWithoutSymlinks(path, O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd >= 0) {
            return fd;
        }
        int error = errno;
        if (error == ELOOP) {
            return Error(Code::AccessDenied, "refusing to open " + path + " (" + what +
                                                 "): it is reached through a symbolic link");
        }
        Code code = m_definer && (error == EACCES || error == EPERM) ? Code::AccessDenied
                                                                     : Code::OperationFailed;
        return Error(code,
                     who() + " cannot open " + path + " (" + what + "): " + std::strerror(error));
    });
    if (!opened) {
        return opened;
    }
    int fd = opened.value();
    struct stat st {};
    std::string refusal;
    if (::fstat(fd, &st) < 0) {
        refusal = std::string("cannot stat it: ") + std::strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        refusal = "it is not a regular file";
    } else if (st.st_nlink != 1) {
        // A hard link to someone else's file would pass the owner check for root.
        refusal = "it has " + std::to_string(st.st_nlink) + " links";
    } else if (st.st_uid != owner()) {
        refusal = "it belongs to uid " + std::to_string(st.st_uid) + ", not to " + who();
    }
    if (!refusal.empty()) {
        ::close(fd);
        return Error(Code::AccessDenied,
                     "refusing to write " + path + " (" + what + "): " + refusal);
    }
    // QEMU would truncate it too (libvirt's default, append='off').
    int flags = (::fcntl(fd, F_GETFL) & ~O_NONBLOCK) | (append ? O_APPEND : 0);
    if ((!append && ::ftruncate(fd, 0) < 0) || ::fcntl(fd, F_SETFL, flags) < 0) {
        int error = errno;
        ::close(fd);
        return Error(Code::OperationFailed,
                     "cannot truncate " + path + " (" + what + "): " + std::strerror(error));
    }
    return fd;
}

Result<int> HostPathOpener::openRegularFile(const std::string& path, int accessMode,
                                            const std::string& what) const {
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    auto opened = openImage(path, accessMode | O_NONBLOCK, what);
    if (!opened) {
        return opened;
    }
    int fd = opened.value();
    struct stat st {};
    if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error(Code::AccessDenied,
                     "refusing to open " + path + " (" + what + "): it is not a regular file");
    }
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        int error = errno;
        ::close(fd);
        return Error(Code::OperationFailed, "cannot open " + path + ": " + std::strerror(error));
    }
    return fd;
}

Result<void> HostPathOpener::checkReadable(const std::string& path, const std::string& what) const {
    auto fd = openImage(path, O_RDONLY, what);
    if (!fd) {
        return fd.takeError();
    }
    ::close(fd.value());
    return success();
}

Result<void> HostPathOpener::withRights(const std::string& what,
                                        const std::function<Result<void>()>& action) const {
    auto r = asOwner(what, [&]() -> Result<int> {
        if (auto done = action(); !done) {
            return done.takeError();
        }
        return 0;
    });
    if (!r) {
        return r.takeError();
    }
    return success();
}

Result<void> HostPathOpener::checkEmulator(const std::string& path) const {
    if (!m_definer) {
        return success();
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) {
        return Error(Code::OperationFailed,
                     "cannot find the emulator " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return Error(Code::AccessDenied, "refusing the emulator " + path + " for " + who() +
                                             ": only a program root installed may be run");
    }
    auto runnable = asOwner(path, [&]() -> Result<int> {
        // AT_EACCESS: checked with the fsuid and groups in force, not the real uid.
        if (::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) == 0) {
            return 0;
        }
        return Error(Code::AccessDenied,
                     who() + " may not run the emulator " + path + ": " + std::strerror(errno));
    });
    if (!runnable) {
        return runnable.takeError();
    }
    return success();
}

} // namespace virtswarm
