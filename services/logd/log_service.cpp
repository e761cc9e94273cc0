// SPDX-License-Identifier: LGPL-2.1-or-later
#include "log_service.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::log_daemon {
namespace {

constexpr size_t kChunk = 64 * 1024;
// A stream's pipe holds this much while logd is throttling it (or re-executing).
constexpr int kPipeSize = 1024 * 1024;
constexpr size_t kMaxStreamName = 32;
constexpr size_t kMaxKnownLogs = 4096;

// The same rules as a domain's <name>: the name becomes a file name in the log directory.
Result<void> checkDomainName(const std::string& name) {
    bool bad = name.empty() || name.size() > kMaxDomainNameBytes || name[0] == '.' ||
               name[0] == '-' || std::any_of(name.begin(), name.end(), [](char ch) {
                   auto c = static_cast<unsigned char>(ch);
                   return c == '/' || c < 0x20 || c == 0x7f;
               });
    if (bad) {
        return Error(Code::InvalidArgs, "'" + name.substr(0, 64) + "' is not a domain name");
    }
    return success();
}

Result<void> checkStream(const std::string& stream) {
    bool bad =
        stream.empty() || stream.size() > kMaxStreamName ||
        std::any_of(stream.begin(), stream.end(), [](char c) {
            return !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
        });
    if (bad) {
        return Error(Code::InvalidArgs, "a stream name has 1 to 32 characters of [a-z0-9_-]");
    }
    return success();
}

void setCloseOnExec(int fd, bool on) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) {
        ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
    }
}

} // namespace

LogService::LogService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode, LogdConfig config,
                       std::string logDir)
    : m_bus(bus)
    , m_loop(loop)
    , m_authority(bus, mode)
    , m_config(std::move(config))
    , m_logDir(std::move(logDir))
    , m_journal(JournalSocket::connect(m_config.journalSocket)) {}

LogService::~LogService() {
    for (auto& [fd, pipe] : m_pipes) {
        pipe->io.reset();
        ::close(fd);
    }
}

std::string LogService::logPath(const std::string& name, const std::string& stream) const {
    // QEMU's stream keeps the name the shim's log always had.
    return m_logDir + "/" + name + (stream == "qemu" ? "" : "-" + stream) + ".log";
}

Result<LogService::Log*> LogService::openLog(const LogKey& key, const std::string& name, int file) {
    Log& log = m_logs[key];
    bool known = static_cast<bool>(log.file);
    if (file < 0 && log.file && !log.path.empty() && log.domainName == name) {
        return &log;
    }
    // New, idle, given a file, or the domain was renamed: its log follows its name.
    Result<std::unique_ptr<RotatingFile>> opened = Error(Code::Internal, "");
    if (file >= 0) {
        int own = ::fcntl(file, F_DUPFD_CLOEXEC, 3);
        opened =
            own < 0 ? Result<std::unique_ptr<RotatingFile>>(
                          Error(Code::OperationFailed,
                                std::string("cannot keep the log file: ") + std::strerror(errno)))
                    : RotatingFile::adopt(own, name + " " + key.second + " log", m_config.rotation);
    } else {
        opened = RotatingFile::open(logPath(name, key.second), m_config.rotation);
    }
    if (!opened) {
        if (!known) {
            m_logs.erase(key);
        }
        return opened.takeError();
    }
    log.domainName = name;
    log.path = file >= 0 ? "" : logPath(name, key.second);
    log.file = std::move(opened).value();
    return &log;
}

Result<LogService::LogKey> LogService::checkNewStream(const std::string& uuid,
                                                      const std::string& name,
                                                      const std::string& stream) const {
    auto domain = domainUuidArgument(uuid);
    if (!domain) {
        return domain.takeError();
    }
    if (auto r = checkDomainName(name); !r) {
        return r.takeError();
    }
    if (auto r = checkStream(stream); !r) {
        return r.takeError();
    }
    size_t ofDomain = std::count_if(m_pipes.begin(), m_pipes.end(), [&](const auto& entry) {
        return entry.second->log.first == domain.value();
    });
    if (m_pipes.size() >= kMaxStreams || ofDomain >= kMaxStreamsPerDomain) {
        return Error(Code::LimitsExceeded, "too many log streams are open");
    }
    return LogKey{domain.value(), stream};
}

Result<int> LogService::openStream(const std::string& uuid, const std::string& name,
                                   const std::string& stream) {
    auto key = checkNewStream(uuid, name, stream);
    if (!key) {
        return key.takeError();
    }
    if (auto log = openLog(key.value(), name); !log) {
        return log.takeError();
    }
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot make a pipe: ") + std::strerror(errno));
    }
    // Room for a burst while the stream is throttled; the default 64 KiB if refused.
    (void)::fcntl(ends[0], F_SETPIPE_SZ, kPipeSize);
    if (auto r = addPipe(ends[0], key.value(), 0); !r) {
        ::close(ends[1]);
        return r.takeError();
    }
    forgetIdleLogs();
    return ends[1];
}

Result<void> LogService::adoptStream(const std::string& uuid, const std::string& name,
                                     const std::string& stream, int readEnd, int file) {
    struct stat st {};
    int flags = ::fcntl(readEnd, F_GETFL);
    if (::fstat(readEnd, &st) != 0 || !S_ISFIFO(st.st_mode) || flags < 0 ||
        (flags & O_ACCMODE) != O_RDONLY) {
        return Error(Code::InvalidArgs, "the descriptor is not the read end of a pipe");
    }
    bool known = std::any_of(m_pipes.begin(), m_pipes.end(),
                             [&](const auto& entry) { return entry.second->inode == st.st_ino; });
    if (known) {
        return success();
    }
    auto key = checkNewStream(uuid, name, stream);
    if (!key) {
        return key.takeError();
    }
    if (auto log = openLog(key.value(), name, file); !log) {
        return log.takeError();
    }
    int own = ::fcntl(readEnd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot keep the pipe: ") + std::strerror(errno));
    }
    (void)::fcntl(own, F_SETFL, flags | O_NONBLOCK);
    if (auto r = addPipe(own, key.value(), 0); !r) {
        return r;
    }
    forgetIdleLogs();
    return success();
}

Result<void> LogService::addPipe(int readFd, const LogKey& key, uint64_t copied) {
    auto pipe = std::make_unique<Pipe>();
    pipe->fd = readFd;
    struct stat st {};
    pipe->inode = ::fstat(readFd, &st) == 0 ? st.st_ino : 0;
    pipe->log = key;
    pipe->copied = copied;
    pipe->lines = JournalLines({{"VIRTSWARM_DOMAIN", m_logs.at(key).domainName},
                                {"VIRTSWARM_UUID", key.first},
                                {"VIRTSWARM_STREAM", key.second},
                                {"SYSLOG_IDENTIFIER", key.second == "qemu" ? "qemu" : key.second}});
    pipe->windowStart = std::chrono::steady_clock::now();
    pipe->io = m_loop.addIo(readFd, EPOLLIN, [this, readFd](uint32_t) { onReadable(readFd); });
    if (!pipe->io) {
        ::close(readFd);
        return Error(Code::OperationFailed, "cannot watch a log stream");
    }
    m_pipes.emplace(readFd, std::move(pipe));
    return success();
}

void LogService::onReadable(int fd) {
    auto found = m_pipes.find(fd);
    if (found == m_pipes.end()) {
        return;
    }
    Pipe& pipe = *found->second;
    auto now = std::chrono::steady_clock::now();
    if (now - pipe.windowStart >= std::chrono::seconds(1)) {
        pipe.windowStart = now;
        pipe.windowBytes = 0;
    }
    size_t budget = kChunk;
    if (m_config.rateLimit != 0) {
        if (pipe.windowBytes >= m_config.rateLimit) {
            // Over its rate: not read until its second is over. Its writer's further
            // output waits in the pipe, or is dropped by the writer once the pipe is full.
            sd_event_source_set_enabled(pipe.io.raw(), SD_EVENT_OFF);
            auto rest = std::chrono::duration_cast<std::chrono::microseconds>(
                pipe.windowStart + std::chrono::seconds(1) - now);
            pipe.resume = m_loop.addTimer(rest, [this, fd] {
                auto again = m_pipes.find(fd);
                if (again != m_pipes.end()) {
                    again->second->resume.reset();
                    sd_event_source_set_enabled(again->second->io.raw(), SD_EVENT_ON);
                }
            });
            return;
        }
        budget = std::min<uint64_t>(budget, m_config.rateLimit - pipe.windowBytes);
    }
    (void)copy(pipe, budget);
}

bool LogService::copy(Pipe& pipe, size_t budget) {
    char buffer[kChunk];
    Log& log = m_logs.at(pipe.log);
    while (budget > 0) {
        ssize_t n = ::read(pipe.fd, buffer, std::min(budget, sizeof buffer));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return true;
        }
        if (n <= 0) {
            // Every writer has closed its end (QEMU exited), or the pipe failed.
            pipe.lines.flush(m_journal.get());
            closePipe(pipe.fd);
            return false;
        }
        std::string_view data(buffer, static_cast<size_t>(n));
        if (auto r = log.file->write(data); !r) {
            // A full disk loses log lines, not the stream.
            log::warning(r.error().message());
        }
        pipe.lines.feed(data, m_journal.get());
        pipe.copied += static_cast<uint64_t>(n);
        pipe.windowBytes += static_cast<uint64_t>(n);
        budget -= static_cast<size_t>(n);
    }
    return true;
}

void LogService::closePipe(int fd) {
    auto found = m_pipes.find(fd);
    if (found == m_pipes.end()) {
        return;
    }
    LogKey key = found->second->log;
    found->second->io.reset();
    ::close(fd);
    m_pipes.erase(found);
    bool inUse = std::any_of(m_pipes.begin(), m_pipes.end(),
                             [&](const auto& entry) { return entry.second->log == key; });
    if (!inUse) {
        // The log stays readable (ReadLog) from its path; its descriptor goes.
        m_logs.at(key).file.reset();
    }
}

void LogService::forgetIdleLogs() {
    for (auto it = m_logs.begin(); it != m_logs.end() && m_logs.size() > kMaxKnownLogs;) {
        it = it->second.file ? std::next(it) : m_logs.erase(it);
    }
}

Result<LogSlice> LogService::readLog(const std::string& uuid, const std::string& stream,
                                     uint64_t offset, uint32_t max) {
    auto domain = domainUuidArgument(uuid);
    if (!domain) {
        return domain.takeError();
    }
    LogKey key{domain.value(), stream};
    auto log = m_logs.find(key);
    if (log == m_logs.end()) {
        return Error(Code::NoSuchDomain, "no log of stream '" + stream.substr(0, 64) +
                                             "' for domain " + domain.value());
    }
    if (log->second.path.empty()) {
        return Error(Code::NotSupported,
                     "the " + stream.substr(0, 64) +
                         " log is a file of the domain's definer: read it there");
    }
    // What the writers wrote before this call is in the file before it is read (a pipe
    // holds at most kPipeSize), whatever the rate limit.
    std::vector<int> feeding;
    for (const auto& [fd, pipe] : m_pipes) {
        if (pipe->log == key) {
            feeding.push_back(fd);
        }
    }
    for (int fd : feeding) {
        (void)copy(*m_pipes.at(fd), kPipeSize);
    }
    return readLogFile(log->second.path, offset, std::min(max, kMaxRead));
}

std::optional<std::string> LogService::domainName(const std::string& uuid,
                                                  const std::string& stream) const {
    auto domain = domainUuidArgument(uuid);
    if (!domain) {
        return std::nullopt;
    }
    auto log = m_logs.find(LogKey{domain.value(), stream});
    if (log == m_logs.end()) {
        return std::nullopt;
    }
    return log->second.domainName;
}

std::vector<StreamInfo> LogService::streams() const {
    std::vector<StreamInfo> out;
    for (const auto& [fd, pipe] : m_pipes) {
        const Log& log = m_logs.at(pipe->log);
        out.push_back(
            StreamInfo{pipe->log.first, log.domainName, pipe->log.second, log.path, pipe->copied});
    }
    return out;
}

void LogService::handTo(const std::string& busName) {
    auto other = sdbus::createProxy(m_bus, busName, names::kLogRootPath);
    for (const auto& [fd, pipe] : m_pipes) {
        const Log& log = m_logs.at(pipe->log);
        Options options;
        if (log.file && log.file->adoptedFd() >= 0) {
            options["file"] = sdbus::Variant(sdbus::UnixFd(log.file->adoptedFd()));
        }
        try {
            other->callMethod("AdoptStream")
                .onInterface(names::kLogManagerInterface)
                .withTimeout(std::chrono::seconds(10))
                .withArguments(pipe->log.first, log.domainName, pipe->log.second, sdbus::UnixFd(fd),
                               options);
        } catch (const sdbus::Error& e) {
            log::error("the " + pipe->log.second + " log of " + pipe->log.first +
                       " is lost: " + e.getMessage());
        }
    }
}

Result<nlohmann::json> LogService::handOver() {
    nlohmann::json pipes = nlohmann::json::array();
    for (auto& [fd, pipe] : m_pipes) {
        // A partial line goes to the journal now: the state carries no bytes.
        pipe->lines.flush(m_journal.get());
        pipes.push_back({{"fd", fd},
                         {"uuid", pipe->log.first},
                         {"stream", pipe->log.second},
                         {"copied", pipe->copied}});
    }
    nlohmann::json logs = nlohmann::json::array();
    for (const auto& [key, log] : m_logs) {
        nlohmann::json entry{{"uuid", key.first}, {"stream", key.second}, {"name", log.domainName}};
        if (log.file && log.file->adoptedFd() >= 0) {
            // A writer's file cannot be opened again by path: it is handed over too.
            setCloseOnExec(log.file->adoptedFd(), false);
            entry["file"] = log.file->adoptedFd();
        } else if (log.path.empty()) {
            continue; // a writer's file whose streams have ended: nothing to read any more
        }
        logs.push_back(entry);
    }
    // The read ends now belong to the next image: unwatched here, and not closed.
    for (auto& [pipeFd, pipe] : m_pipes) {
        setCloseOnExec(pipeFd, false);
        pipe->io.reset();
        pipe->resume.reset();
    }
    m_pipes.clear();
    return nlohmann::json{{"logs", logs}, {"pipes", pipes}};
}

Result<void> LogService::adopt(const nlohmann::json& parsed) {
    try {
        std::map<LogKey, int> files; // the writers' files, by log
        for (const auto& entry : parsed.at("logs")) {
            LogKey key{entry.at("uuid").get<std::string>(), entry.at("stream").get<std::string>()};
            Log& log = m_logs[key];
            log.domainName = entry.at("name").get<std::string>();
            log.path = entry.contains("file") ? "" : logPath(log.domainName, key.second);
            if (entry.contains("file")) {
                files[key] = entry.at("file").get<int>();
                setCloseOnExec(files[key], true);
            }
        }
        for (const auto& entry : parsed.at("pipes")) {
            int fd = entry.at("fd").get<int>();
            LogKey key{entry.at("uuid").get<std::string>(), entry.at("stream").get<std::string>()};
            struct stat st {};
            if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode) || !m_logs.count(key)) {
                log::warning("the re-exec state names a stream that is not there: skipped");
                continue;
            }
            setCloseOnExec(fd, true);
            auto file = files.find(key);
            if (auto log = openLog(key, m_logs.at(key).domainName,
                                   file == files.end() ? -1 : file->second);
                !log) {
                log::warning(log.error().message());
                ::close(fd);
                continue;
            }
            if (auto r = addPipe(fd, key, entry.at("copied").get<uint64_t>()); !r) {
                log::warning(r.error().message());
            }
        }
    } catch (const nlohmann::json::exception& e) {
        return Error(Code::InvalidArgs,
                     std::string("the re-exec state is incomplete: ") + e.what());
    }
    return success();
}

} // namespace virtswarm::log_daemon
