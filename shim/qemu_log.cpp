// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_log.hpp"

#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/bus_driver.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

// Room for logd's activation and its polkit check; past it, the file.
constexpr auto kLogdTimeout = std::chrono::seconds(5);
constexpr uint64_t kTail = UINT64_MAX;
constexpr uint32_t kTailBytes = 64 * 1024;
// What QEMU may write while logd throttles it or is not there, before its writes fail.
constexpr int kPipeSize = 1024 * 1024;

} // namespace

void closeOutputs(QemuLog::Outputs& outputs) {
    if (outputs.qemu >= 0) {
        ::close(outputs.qemu);
        outputs.qemu = -1;
    }
    for (const auto& [path, fd] : outputs.serialLogs) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    outputs.serialLogs.clear();
}

std::string lastLineOf(std::string text) {
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    auto nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

QemuLog::QemuLog(EventLoop& loop, sdbus::IConnection& bus, std::string domainUuid,
                 std::string domainName, std::string fallbackPath)
    : m_loop(loop)
    , m_bus(bus)
    , m_logd(sdbus::createProxy(bus, names::kLogBusName, names::kLogRootPath))
    , m_domainUuid(std::move(domainUuid))
    , m_domainName(std::move(domainName))
    , m_fallbackPath(std::move(fallbackPath)) {}

QemuLog::~QemuLog() {
    qemuEnded();
}

void QemuLog::qemuEnded() {
    for (auto& stream : m_streams) {
        for (int* fd : {&stream.readEnd, &stream.writeEnd, &stream.file}) {
            if (*fd >= 0) {
                ::close(*fd);
                *fd = -1;
            }
        }
    }
    m_streams.clear();
    m_ownerMatch.reset();
}

Result<int> QemuLog::openFile() const {
    // The log directory is the shim's own; O_NOFOLLOW all the same, as for every file the
    // shim creates.
    int fd = ::open(m_fallbackPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0) {
        return Error(Code::OperationFailed,
                     "cannot open log " + m_fallbackPath + ": " + std::strerror(errno));
    }
    return fd;
}

Result<void> QemuLog::makeStreams(const DomainDef& def, const HostPathOpener& opener) {
    m_streams.push_back(Stream{"qemu", -1, -1, -1, ""});
    for (size_t i = 0; i < def.serials.size(); ++i) {
        const auto& serial = def.serials[i];
        bool seen = std::any_of(m_streams.begin(), m_streams.end(),
                                [&](const Stream& s) { return s.path == serial.logFile; });
        if (serial.logFile.empty() || seen) {
            continue;
        }
        std::string name = qemu_id::serial(i);
        auto file = opener.openOutput(serial.logFile, name + " <log>", serial.logAppend);
        if (!file) {
            return file.takeError();
        }
        m_streams.push_back(Stream{name, -1, -1, file.value(), serial.logFile});
    }
    for (auto& stream : m_streams) {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0) {
            return Error(Code::OperationFailed,
                         std::string("cannot make a pipe: ") + std::strerror(errno));
        }
        // Non-blocking for its writers: QEMU loses what does not fit rather than wait.
        (void)::fcntl(ends[1], F_SETFL, O_NONBLOCK);
        (void)::fcntl(ends[0], F_SETPIPE_SZ, kPipeSize);
        stream.readEnd = ends[0];
        stream.writeEnd = ends[1];
    }
    return success();
}

void QemuLog::open(const DomainDef& def, const HostPathOpener& opener,
                   std::function<void(Result<Outputs>)> done) {
    qemuEnded(); // a previous QEMU's pipes (a restart of the domain in this shim)
    auto guard = m_lifetime.guard();
    auto fallBack = [this, guard, done](const std::string& why) {
        if (!guard.alive()) {
            return;
        }
        log::warning("QEMU's logs are written without virtswarm-logd: " + why);
        qemuEnded();
        m_viaLogd = false;
        auto file = openFile();
        if (!file) {
            done(file.takeError());
            return;
        }
        done(Outputs{file.value(), {}});
    };
    if (auto r = makeStreams(def, opener); !r) {
        qemuEnded();
        done(r.takeError());
        return;
    }
    // Every stream to logd, or none: the answers are counted.
    auto pending = std::make_shared<size_t>(m_streams.size());
    auto failure = std::make_shared<std::string>();
    auto answered = [this, guard, done, fallBack, pending, failure](const sdbus::Error* error) {
        if (!guard.alive()) {
            return;
        }
        if (error != nullptr && failure->empty()) {
            *failure = error->getMessage();
        }
        if (--*pending > 0) {
            return;
        }
        if (!failure->empty()) {
            fallBack(*failure);
            return;
        }
        m_viaLogd = true;
        watchLogd();
        Outputs outputs;
        for (auto& stream : m_streams) {
            if (stream.path.empty()) { // QEMU's stdout and stderr: the end is QEMU's
                outputs.qemu = stream.writeEnd;
                stream.writeEnd = -1;
            } else { // a copy: the shim's stays until qemuStarted()
                outputs.serialLogs[stream.path] = ::fcntl(stream.writeEnd, F_DUPFD_CLOEXEC, 3);
            }
        }
        done(std::move(outputs));
    };
    for (const auto& stream : m_streams) {
        adopt(stream, answered);
    }
}

void QemuLog::qemuStarted() {
    for (auto& stream : m_streams) {
        if (stream.writeEnd >= 0) {
            (void)::fcntl(stream.writeEnd, F_SETFL, O_NONBLOCK);
            ::close(stream.writeEnd);
            stream.writeEnd = -1;
        }
    }
}

void QemuLog::adopt(const Stream& stream, std::function<void(const sdbus::Error*)> then) {
    Options options;
    if (stream.file >= 0) {
        options["file"] = sdbus::Variant(sdbus::UnixFd(stream.file));
    }
    try {
        m_logd->callMethodAsync("AdoptStream")
            .onInterface(names::kLogManagerInterface)
            .withTimeout(kLogdTimeout)
            .withArguments(m_domainUuid, m_domainName, stream.name, sdbus::UnixFd(stream.readEnd),
                           options)
            .uponReplyInvoke([then](const sdbus::Error* error) { then(error); });
    } catch (const sdbus::Error& e) {
        m_loop.defer([then, e] { then(&e); });
    }
}

void QemuLog::watchLogd() {
    try {
        m_ownerMatch =
            m_bus.addMatch(std::string("type='signal',sender='") + kBusDriverName +
                               "',member='NameOwnerChanged',arg0='" + names::kLogBusName + "'",
                           [this](sdbus::Message& message) { onLogdOwnerChanged(message); });
    } catch (const sdbus::Error& e) {
        log::warning("QEMU's log will not follow a restarted logd: " + e.getMessage());
    }
}

void QemuLog::onLogdOwnerChanged(sdbus::Message& message) {
    auto change = nameOwnerChangeFromBusDriver(message);
    if (!change || change->name != names::kLogBusName || change->newOwner.empty()) {
        return;
    }
    for (const auto& stream : m_streams) {
        adopt(stream, [name = stream.name](const sdbus::Error* error) {
            if (error != nullptr) {
                log::warning("the new logd did not take QEMU's " + name +
                             " log: " + error->getMessage());
            }
        });
    }
}

std::string QemuLog::lastLineOfFile() const {
    auto text = readFile(m_fallbackPath, 64 * 1024 * 1024);
    return text ? lastLineOf(text.value()) : "(no log)";
}

void QemuLog::lastLine(std::function<void(std::string)> done) {
    if (!m_viaLogd) {
        done(lastLineOfFile());
        return;
    }
    // logd copies what QEMU wrote before it answers, which reading the file here would
    // race with.
    auto guard = m_lifetime.guard();
    try {
        m_logd->callMethodAsync("ReadLog")
            .onInterface(names::kLogManagerInterface)
            .withTimeout(kLogdTimeout)
            .withArguments(m_domainUuid, std::string("qemu"), kTail, kTailBytes, Options{})
            .uponReplyInvoke([this, guard, done](const sdbus::Error* error,
                                                 std::vector<uint8_t> data, uint64_t) {
                if (!guard.alive()) {
                    return;
                }
                done(error != nullptr ? lastLineOfFile()
                                      : lastLineOf(std::string(data.begin(), data.end())));
            });
    } catch (const sdbus::Error&) {
        done(lastLineOfFile());
    }
}

} // namespace virtswarm::shim
