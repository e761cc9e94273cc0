// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/emulator_query.hpp"

#include "virtswarm/child_process.hpp"

#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace virtswarm {
namespace {

constexpr std::chrono::seconds kProbeTimeout{10};
constexpr size_t kMaxOutput = 256 * 1024;

} // namespace

std::optional<uint64_t> parseQemuVersion(std::string_view output) {
    constexpr std::string_view kPrefix = "QEMU emulator version ";
    size_t pos = output.find(kPrefix);
    if (pos == std::string_view::npos) {
        return std::nullopt;
    }
    const char* p = output.data() + pos + kPrefix.size();
    const char* end = output.data() + output.size();
    // major.minor, then .micro if given (0 otherwise).
    uint64_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
        auto [next, ec] = std::from_chars(p, end, parts[i]);
        if (ec != std::errc()) {
            return std::nullopt;
        }
        bool dot = next != end && *next == '.';
        if (i == 0 && !dot) {
            return std::nullopt;
        }
        if (!dot) {
            break;
        }
        p = next + 1;
    }
    if (parts[1] > 999 || parts[2] > 999) {
        return std::nullopt;
    }
    return parts[0] * 1000000 + parts[1] * 1000 + parts[2];
}

std::vector<std::string> parseCpuModels(std::string_view cpuHelp) {
    std::vector<std::string> models;
    // "x86 Broadwell-IBRS        (alias of Broadwell-v3)"
    for (size_t pos = 0; pos < cpuHelp.size();) {
        size_t eol = cpuHelp.find('\n', pos);
        std::string_view line = cpuHelp.substr(pos, eol - pos);
        pos = eol == std::string_view::npos ? cpuHelp.size() : eol + 1;
        if (!line.starts_with("x86 ")) {
            continue;
        }
        std::string_view name = line.substr(4);
        name = name.substr(0, name.find(' '));
        size_t v = name.rfind("-v");
        bool versioned = v != std::string_view::npos && v + 2 < name.size() &&
                         name.find_first_not_of("0123456789", v + 2) == std::string_view::npos;
        if (name.empty() || versioned || name == "host" || name == "max" || name == "base") {
            continue;
        }
        models.emplace_back(name);
    }
    return models;
}

EmulatorQuery::EmulatorQuery(EventLoop& loop, std::string emulator,
                             std::vector<std::string> arguments)
    : m_loop(loop)
    , m_emulator(std::move(emulator))
    , m_arguments(std::move(arguments)) {}

EmulatorQuery::~EmulatorQuery() {
    m_io.reset();
    m_exit.reset();
    m_deadline.reset();
    if (m_pipe >= 0) {
        ::close(m_pipe);
    }
    if (m_child > 0) {
        ::kill(m_child, SIGKILL);
    }
}

void EmulatorQuery::get(Done done) {
    if (m_answer) {
        done(*m_answer);
        return;
    }
    m_waiting.push_back(std::move(done));
    if (m_waiting.size() == 1) {
        probe();
    }
}

void EmulatorQuery::probe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        finish(Error(Code::OperationFailed, "cannot run " + m_emulator + ": no pipe"));
        return;
    }
    SpawnOptions options;
    options.argv = {m_emulator};
    options.argv.insert(options.argv.end(), m_arguments.begin(), m_arguments.end());
    options.stdoutFd = fds[1];
    auto pid = spawnProcess(options);
    ::close(fds[1]);
    if (!pid) {
        ::close(fds[0]);
        finish(Error(Code::OperationFailed,
                     "cannot run " + m_emulator + ": " + pid.error().message()));
        return;
    }
    m_pipe = fds[0];
    m_child = pid.value();
    m_output.clear();
    m_exit = m_loop.addChild(m_child, [this](const siginfo_t&) {
        m_child = 0; // reaped
        m_exit.reset();
    });
    m_io = m_loop.addIo(m_pipe, EPOLLIN, [this](uint32_t) {
        char buf[512];
        ssize_t n = ::read(m_pipe, buf, sizeof buf);
        if (n > 0 && m_output.size() < kMaxOutput) {
            m_output.append(buf, static_cast<size_t>(n));
            return;
        }
        if (n < 0 && errno == EINTR) {
            return;
        }
        // End of output (or more than any answer needs): the answer is what we have.
        finish(m_output.empty() ? Result<std::string>(Error(Code::OperationFailed,
                                                            m_emulator + " answered nothing"))
                                : Result<std::string>(m_output));
    });
    m_deadline = m_loop.addTimer(kProbeTimeout, [this] {
        finish(Error(Code::Timeout, m_emulator + " did not answer in time"));
    });
}

void EmulatorQuery::finish(Result<std::string> result) {
    m_io.reset();
    m_deadline.reset();
    if (m_pipe >= 0) {
        ::close(m_pipe);
        m_pipe = -1;
    }
    if (m_child > 0) {
        ::kill(m_child, SIGKILL); // reaped by the child source
    }
    if (result) {
        m_answer = result.value();
    }
    // A failure is not remembered: the next caller asks again.
    auto waiting = std::move(m_waiting);
    m_waiting.clear();
    for (auto& done : waiting) {
        done(result);
    }
}

} // namespace virtswarm
