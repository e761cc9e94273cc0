// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm {
namespace {

Error errnoError(const std::string& what, int err) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(err));
}

std::string parentOf(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

Result<void> writeAll(int fd, std::string_view content, const std::string& what) {
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errnoError("write " + what, errno);
        }
        done += static_cast<size_t>(n);
    }
    return success();
}

} // namespace

Result<void> fsyncDirectory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return errnoError("open " + dir, errno);
    }
    int r = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (r < 0) {
        return errnoError("fsync " + dir, err);
    }
    return success();
}

Result<std::string> writeTempFile(const std::string& path, std::string_view content, mode_t mode,
                                  bool fsyncData) {
    std::string dir = parentOf(path);
    std::string tmpl = dir + "/." + std::filesystem::path(path).filename().string() + ".XXXXXX";
    int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) {
        return errnoError("create temp file in " + dir, errno);
    }
    auto fail = [&](Error e) -> Result<std::string> {
        ::close(fd);
        ::unlink(tmpl.c_str());
        return e;
    };
    if (::fchmod(fd, mode) < 0) {
        return fail(errnoError("fchmod " + tmpl, errno));
    }
    if (auto r = writeAll(fd, content, tmpl); !r) {
        return fail(r.takeError());
    }
    if (fsyncData && ::fsync(fd) < 0) {
        return fail(errnoError("fsync " + tmpl, errno));
    }
    if (::close(fd) < 0) {
        ::unlink(tmpl.c_str());
        return errnoError("close " + tmpl, errno);
    }
    return tmpl;
}

Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
    auto temp = writeTempFile(path, content, mode, true);
    if (!temp) {
        return temp.takeError();
    }
    if (::rename(temp.value().c_str(), path.c_str()) < 0) {
        int err = errno;
        ::unlink(temp.value().c_str());
        return errnoError("rename to " + path, err);
    }
    return fsyncDirectory(parentOf(path));
}

Result<std::string> readFile(const std::string& path, size_t maxBytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errnoError("open " + path, errno);
    }
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            ::close(fd);
            return errnoError("read " + path, err);
        }
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > maxBytes) {
            ::close(fd);
            return Error(Code::OperationFailed,
                         path + " is larger than " + std::to_string(maxBytes) + " bytes");
        }
    }
    ::close(fd);
    return out;
}

Result<void> removeFileDurable(const std::string& path) {
    if (::unlink(path.c_str()) < 0) {
        return errno == ENOENT ? success() : errnoError("unlink " + path, errno);
    }
    return fsyncDirectory(parentOf(path));
}

Result<void> makeDirectories(const std::string& path, mode_t mode) {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        partial = path.substr(0, pos);
        if (partial.empty()) {
            continue;
        }
        if (::mkdir(partial.c_str(), mode) < 0 && errno != EEXIST) {
            return errnoError("mkdir " + partial, errno);
        }
    }
    return success();
}

} // namespace virtswarm
