// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "journal_lines.hpp"
#include "logd_config.hpp"
#include "rotating_file.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <utility>
#include <vector>

namespace virtswarm::log_daemon {

struct StreamInfo {
    std::string domainUuid;
    std::string domainName;
    std::string stream;
    std::string path;
    uint64_t copied = 0;
};

// The logs of the host's (or the user's) domains. Each stream is a pipe whose read end is
// kept here: what arrives is copied to the log file (rotated by size) and to the journal,
// at most rateLimit bytes a second per stream and 64 KiB per wake-up, so one flooding
// writer neither fills the disk nor delays the others. Everything is in the pipes and
// the files: a re-exec hands the read ends to the new image (handOver/adopt).
class LogService {
public:
    static constexpr size_t kMaxStreams = 1024;
    static constexpr size_t kMaxStreamsPerDomain = 16;
    static constexpr uint32_t kMaxRead = 1024 * 1024;

    LogService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode, LogdConfig config,
               std::string logDir);
    ~LogService();
    LogService(const LogService&) = delete;
    LogService& operator=(const LogService&) = delete;

    // A new stream into the domain's log; the write end of its pipe (non-blocking), for
    // the caller to hand on and close.
    Result<int> openStream(const std::string& uuid, const std::string& name,
                           const std::string& stream);
    // A stream from a pipe the caller made: `readEnd` is the caller's (a copy is kept).
    // A pipe read already is left as it is. `file` (>= 0, the caller's): the log is that
    // file, which the caller opened for writing, instead of one of logd's (a definer's
    // serial <log>); it is bounded by truncation and ReadLog does not read it.
    Result<void> adoptStream(const std::string& uuid, const std::string& name,
                             const std::string& stream, int readEnd, int file = -1);
    // After copying what the stream's writers have written so far.
    Result<LogSlice> readLog(const std::string& uuid, const std::string& stream, uint64_t offset,
                             uint32_t max);
    // The domain name a log was opened with (polkit's details for ReadLog).
    std::optional<std::string> domainName(const std::string& uuid, const std::string& stream) const;
    std::vector<StreamInfo> streams() const;

    // Before a re-exec: the state (a memfd) and every pipe left open across execve and
    // given up by this object; the descriptor number of the state, for the new image's
    // adopt().
    Result<nlohmann::json> handOver();
    Result<void> adopt(const nlohmann::json& state);
    // When another logd owns `busName` (this image lost the name to it): every stream is
    // handed to it with AdoptStream, so what its writers write goes on being copied.
    void handTo(const std::string& busName);

    Authority& authority() { return m_authority; }
    sdbus::IConnection& connection() { return m_bus; }

private:
    using LogKey = std::pair<std::string, std::string>; // domain UUID, stream
    struct Log {
        std::string domainName;
        std::string path;                   // empty: a file the writer opened
        std::unique_ptr<RotatingFile> file; // while it has pipes
    };
    struct Pipe {
        int fd = -1;
        ino_t inode = 0; // the pipe's identity: one pipe is read once
        LogKey log;
        uint64_t copied = 0;
        JournalLines lines{JournalFields{}};
        EventSource io;
        // Throttling: bytes copied in the current second, and the timer that resumes it.
        std::chrono::steady_clock::time_point windowStart;
        uint64_t windowBytes = 0;
        EventSource resume;
    };

    std::string logPath(const std::string& name, const std::string& stream) const;
    // The checks of a new stream; the log's key (the UUID in its canonical form).
    Result<LogKey> checkNewStream(const std::string& uuid, const std::string& name,
                                  const std::string& stream) const;
    // `file` >= 0: that file (a copy is made) instead of logd's own.
    Result<Log*> openLog(const LogKey& key, const std::string& name, int file = -1);
    Result<void> addPipe(int readFd, const LogKey& key, uint64_t copied);
    void onReadable(int fd);
    // Reads and copies up to `budget` bytes; false once the pipe has ended (closed here).
    bool copy(Pipe& pipe, size_t budget);
    void closePipe(int fd);
    void forgetIdleLogs();

    sdbus::IConnection& m_bus;
    EventLoop& m_loop;
    Authority m_authority;
    LogdConfig m_config;
    std::string m_logDir;
    std::unique_ptr<JournalSocket> m_journal;
    std::map<LogKey, Log> m_logs;
    std::map<int, std::unique_ptr<Pipe>> m_pipes; // by read end
};

} // namespace virtswarm::log_daemon
