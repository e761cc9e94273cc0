// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace virtswarm::log_daemon {

// How large a log grows before it is rotated, and how many rotated files are kept
// (virtlogd's max_size and max_backups, with its defaults): a log never takes more than
// maxSize * (maxBackups + 1) bytes of disk, however much its writers write.
struct RotationPolicy {
    uint64_t maxSize = 2 * 1024 * 1024;
    unsigned maxBackups = 3;
};

// One log file, appended to and rotated by size: <path> is the newest, <path>.1 the one
// before it, up to <path>.<maxBackups>; the oldest goes. Written only through this object
// (the files are logd's), so the size it counts is the file's.
class RotatingFile {
public:
    // Opens (creating, mode 0600) `path` for appending; an existing file is continued.
    static Result<std::unique_ptr<RotatingFile>> open(std::string path, RotationPolicy policy);
    // A file someone else opened for writing (`fd`, taken; `name` for messages): logd has
    // no right to its path (a definer's serial <log>), so it cannot rename it. It is
    // bounded by truncation instead: past maxSize it starts again, with a line that says so.
    static Result<std::unique_ptr<RotatingFile>> adopt(int fd, std::string name,
                                                       RotationPolicy policy);
    ~RotatingFile();
    RotatingFile(const RotatingFile&) = delete;
    RotatingFile& operator=(const RotatingFile&) = delete;

    // Appends `data`, rotating first whenever it would take the file past maxSize (a
    // chunk larger than maxSize is split across files, so no file is ever larger).
    Result<void> write(std::string_view data);

    const std::string& path() const { return m_path; }
    // The descriptor of an adopted file (for a re-exec's handover); -1 for logd's own.
    int adoptedFd() const { return m_byPath ? -1 : m_fd; }
    uint64_t size() const { return m_size; }

private:
    RotatingFile(std::string path, RotationPolicy policy, int fd, uint64_t size, bool byPath)
        : m_path(std::move(path))
        , m_policy(policy)
        , m_fd(fd)
        , m_size(size)
        , m_byPath(byPath) {}
    Result<void> rotate();

    std::string m_path;
    RotationPolicy m_policy;
    int m_fd;
    uint64_t m_size;
    bool m_byPath;
};

// What ReadLog answers: up to `max` bytes of the log file at `path` from `offset`, or its
// last `max` bytes when `offset` is kTail, and the offset to go on from (the file's size
// when nothing was left to read: smaller than `offset` after a rotation).
inline constexpr uint64_t kTail = UINT64_MAX;
struct LogSlice {
    std::string data;
    uint64_t next = 0;
};
Result<LogSlice> readLogFile(const std::string& path, uint64_t offset, uint32_t max);

} // namespace virtswarm::log_daemon
