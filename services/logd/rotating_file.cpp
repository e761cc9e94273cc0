// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rotating_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::log_daemon {
namespace {

Error failure(const std::string& what, const std::string& path) {
    return Error(Code::OperationFailed, what + " " + path + ": " + std::strerror(errno));
}

// O_NOFOLLOW: the directory is logd's, but a link planted in it must not be followed.
int openLog(const std::string& path, int extraFlags) {
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | extraFlags,
                  0600);
}

} // namespace

Result<std::unique_ptr<RotatingFile>> RotatingFile::open(std::string path, RotationPolicy policy) {
    int fd = openLog(path, 0);
    if (fd < 0) {
        return failure("cannot open log", path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error(Code::OperationFailed, path + " is not a regular file");
    }
    policy.maxSize = std::max<uint64_t>(policy.maxSize, 1);
    return std::unique_ptr<RotatingFile>(
        new RotatingFile(std::move(path), policy, fd, static_cast<uint64_t>(st.st_size), true));
}

Result<std::unique_ptr<RotatingFile>> RotatingFile::adopt(int fd, std::string name,
                                                          RotationPolicy policy) {
    struct stat st {};
    int flags = ::fcntl(fd, F_GETFL);
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flags < 0 ||
        (flags & O_ACCMODE) == O_RDONLY) {
        ::close(fd);
        return Error(Code::InvalidArgs, "a log file must be a regular file open for writing");
    }
    // Writes go to the end whatever the opener's flags; a blocking descriptor, as for
    // logd's own files.
    (void)::fcntl(fd, F_SETFL, (flags | O_APPEND) & ~O_NONBLOCK);
    policy.maxSize = std::max<uint64_t>(policy.maxSize, 1);
    return std::unique_ptr<RotatingFile>(
        new RotatingFile(std::move(name), policy, fd, static_cast<uint64_t>(st.st_size), false));
}

RotatingFile::~RotatingFile() {
    ::close(m_fd);
}

Result<void> RotatingFile::write(std::string_view data) {
    while (!data.empty()) {
        if (m_size >= m_policy.maxSize) {
            if (auto r = rotate(); !r) {
                return r;
            }
        }
        size_t room = static_cast<size_t>(m_policy.maxSize - m_size);
        std::string_view chunk = data.substr(0, std::min(room, data.size()));
        ssize_t n = ::write(m_fd, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return failure("cannot write log", m_path);
        }
        m_size += static_cast<uint64_t>(n);
        data.remove_prefix(static_cast<size_t>(n));
    }
    return success();
}

Result<void> RotatingFile::rotate() {
    if (!m_byPath) {
        if (::ftruncate(m_fd, 0) != 0) {
            return failure("cannot truncate log", m_path);
        }
        m_size = 0;
        std::string note = "virtswarm-logd: this log reached " + std::to_string(m_policy.maxSize) +
                           " bytes and was truncated\n";
        if (note.size() < m_policy.maxSize && ::write(m_fd, note.data(), note.size()) > 0) {
            m_size = note.size();
        }
        return success();
    }
    auto numbered = [this](unsigned n) { return m_path + "." + std::to_string(n); };
    if (m_policy.maxBackups == 0) {
        int fd = openLog(m_path, O_TRUNC);
        if (fd < 0) {
            return failure("cannot truncate log", m_path);
        }
        ::close(m_fd);
        m_fd = fd;
        m_size = 0;
        return success();
    }
    (void)::unlink(numbered(m_policy.maxBackups).c_str());
    for (unsigned n = m_policy.maxBackups; n > 1; --n) {
        (void)::rename(numbered(n - 1).c_str(), numbered(n).c_str());
    }
    if (::rename(m_path.c_str(), numbered(1).c_str()) != 0) {
        return failure("cannot rotate log", m_path);
    }
    int fd = openLog(m_path, O_EXCL);
    if (fd < 0) {
        return failure("cannot open log", m_path);
    }
    ::close(m_fd);
    m_fd = fd;
    m_size = 0;
    return success();
}

Result<LogSlice> readLogFile(const std::string& path, uint64_t offset, uint32_t max) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return LogSlice{};
        }
        return failure("cannot read log", path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error(Code::OperationFailed, path + " is not a regular file");
    }
    // Past the end (the log was rotated since the caller's last read): nothing, and the
    // size tells the caller to start again from it.
    auto size = static_cast<uint64_t>(st.st_size);
    LogSlice slice;
    slice.next = size;
    if (offset == kTail) {
        offset = size - std::min<uint64_t>(size, max);
    }
    if (offset < size) {
        slice.data.resize(static_cast<size_t>(std::min<uint64_t>(max, size - offset)));
        size_t got = 0;
        while (got < slice.data.size()) {
            ssize_t n = ::pread(fd, slice.data.data() + got, slice.data.size() - got,
                                static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            got += static_cast<size_t>(n);
        }
        slice.data.resize(got);
        slice.next = offset + got;
    }
    ::close(fd);
    return slice;
}

} // namespace virtswarm::log_daemon
