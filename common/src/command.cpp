// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/command.hpp"

#include "virtswarm/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace virtswarm {
namespace {

// A helper's output is small (JSON of one image, a list of logical volumes); anything
// beyond this is a broken or hostile tool, and is cut rather than held.
constexpr size_t kMaxOutput = 4 * 1024 * 1024;
constexpr size_t kMaxError = 64 * 1024;

// Reads what is there now; false once the writer has closed its end.
bool drain(int fd, std::string& into, size_t limit) {
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            size_t room = limit > into.size() ? limit - into.size() : 0;
            into.append(buf, std::min(room, static_cast<size_t>(n)));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n < 0 && errno == EAGAIN;
    }
}

std::string lastLine(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    auto cut = text.find_last_of('\n');
    return cut == std::string::npos ? text : text.substr(cut + 1);
}

} // namespace

Command::Command(EventLoop& loop, std::vector<std::string> argv, Done done, LineHandler onLine)
    : m_loop(loop)
    , m_argv(std::move(argv))
    , m_done(std::move(done))
    , m_onLine(std::move(onLine)) {}

Command::~Command() {
    if (m_pid > 0 && !m_finished) {
        ::kill(m_pid, SIGKILL);
    }
    for (int fd : {m_stdout, m_stderr}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

std::shared_ptr<Command> Command::run(EventLoop& loop, std::vector<std::string> argv, Done done,
                                      LineHandler onLine,
                                      std::vector<std::pair<int, int>> passFds) {
    auto command =
        std::make_shared<Command>(loop, std::move(argv), std::move(done), std::move(onLine));
    if (auto r = command->start(passFds); !r) {
        // Reported from the loop, so callers never see their callback run inside run().
        auto error = r.takeError();
        loop.defer([command, error]() mutable { command->finish(std::move(error)); });
        return command;
    }
    command->m_self = command;
    return command;
}

Result<void> Command::start(const std::vector<std::pair<int, int>>& passFds) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) < 0) {
        return Error(Code::OperationFailed, std::string("pipe2: ") + std::strerror(errno));
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        ::close(out[0]);
        ::close(out[1]);
        return Error(Code::OperationFailed, std::string("pipe2: ") + std::strerror(errno));
    }
    SpawnOptions spawn;
    spawn.argv = m_argv;
    // Tools print numbers and messages we parse in the C locale's form.
    spawn.environment = {"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"};
    // A helper writes what only this daemon can commit or discard: it ends with us.
    spawn.dieWithParent = true;
    spawn.passFds = passFds;
    spawn.stdoutFd = out[1];
    spawn.stderrFd = err[1];
    auto pid = spawnProcess(spawn);
    ::close(out[1]);
    ::close(err[1]);
    m_stdout = out[0];
    m_stderr = err[0];
    if (!pid) {
        return pid.takeError();
    }
    m_pid = pid.value();
    fcntl(m_stdout, F_SETFL, O_NONBLOCK);
    fcntl(m_stderr, F_SETFL, O_NONBLOCK);
    m_stdoutWatch = m_loop.addIo(m_stdout, EPOLLIN, [this](uint32_t) { readStdout(); });
    m_stderrWatch = m_loop.addIo(m_stderr, EPOLLIN, [this](uint32_t) { readStderr(); });
    m_childWatch = m_loop.addChild(m_pid, [this](const siginfo_t& info) { exited(info); });
    return success();
}

void Command::readStdout() {
    size_t before = m_out.size();
    if (!drain(m_stdout, m_out, kMaxOutput)) {
        m_stdoutWatch.reset();
    }
    if (!m_onLine) {
        return;
    }
    m_partialLine.append(m_out, before, std::string::npos);
    size_t start = 0;
    for (size_t i = 0; i < m_partialLine.size(); ++i) {
        if (m_partialLine[i] == '\n' || m_partialLine[i] == '\r') {
            if (i > start) {
                m_onLine(std::string_view(m_partialLine).substr(start, i - start));
            }
            start = i + 1;
        }
    }
    m_partialLine.erase(0, start);
}

void Command::readStderr() {
    if (!drain(m_stderr, m_err, kMaxError)) {
        m_stderrWatch.reset();
    }
}

void Command::exited(const siginfo_t& info) {
    m_childWatch.reset();
    // The child is gone: what it wrote is in the pipes now.
    readStdout();
    readStderr();
    m_stdoutWatch.reset();
    m_stderrWatch.reset();
    if (m_cancelled) {
        finish(Error(Code::OperationFailed, "cancelled"));
    } else if (info.si_code == CLD_EXITED && info.si_status == 0) {
        finish(std::move(m_out));
    } else {
        std::string detail = lastLine(m_err);
        finish(Error(Code::OperationFailed,
                     m_argv[0] + " " + describeExit(info) + (detail.empty() ? "" : ": " + detail)));
    }
}

void Command::finish(Result<std::string> result) {
    if (m_finished) {
        return;
    }
    m_finished = true;
    auto self = std::move(m_self); // may be the last reference: keep us until we return
    auto done = std::move(m_done);
    done(std::move(result));
}

void Command::cancel() {
    if (m_finished || m_cancelled) {
        return;
    }
    m_cancelled = true;
    if (m_pid > 0) {
        ::kill(m_pid, SIGTERM);
    }
}

void runSequence(EventLoop& loop, std::vector<std::vector<std::string>> commands,
                 std::function<void(Result<void>)> done) {
    if (commands.empty()) {
        loop.defer([done] { done(success()); });
        return;
    }
    auto first = commands.front();
    commands.erase(commands.begin());
    Command::run(loop, std::move(first),
                 [&loop, rest = std::move(commands), done](Result<std::string> r) mutable {
                     if (!r) {
                         done(r.takeError());
                         return;
                     }
                     runSequence(loop, std::move(rest), std::move(done));
                 });
}

} // namespace virtswarm
