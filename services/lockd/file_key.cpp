// SPDX-License-Identifier: LGPL-2.1-or-later
#include "file_key.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace virtswarm::lock {

Result<std::string> fileKey(int fd, LeaseMode mode, const std::string& path) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        return Error(Code::InvalidArgs, "disk '" + path + "': not an open file descriptor");
    }
    // An O_PATH descriptor only shows that the caller could find the file, not open it.
    if ((flags & O_PATH) != 0) {
        return Error(Code::InvalidArgs,
                     "disk '" + path + "': an O_PATH descriptor proves no access");
    }
    int access = flags & O_ACCMODE;
    if (mode == LeaseMode::Exclusive && access != O_RDWR && access != O_WRONLY) {
        return Error(Code::InvalidArgs,
                     "disk '" + path + "': an exclusive lease needs the file open for writing");
    }
    if (access == O_WRONLY && mode == LeaseMode::Shared) {
        return Error(Code::InvalidArgs,
                     "disk '" + path + "': a shared lease needs the file open for reading");
    }
    struct stat st {};
    if (::fstat(fd, &st) < 0) {
        return Error(Code::InvalidArgs, "disk '" + path + "': " + std::strerror(errno));
    }
    if (S_ISREG(st.st_mode)) {
        return "file:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }
    if (S_ISBLK(st.st_mode)) {
        return "block:" + std::to_string(major(st.st_rdev)) + ":" +
               std::to_string(minor(st.st_rdev));
    }
    return Error(Code::InvalidArgs, "disk '" + path + "' is neither a file nor a block device");
}

} // namespace virtswarm::lock
