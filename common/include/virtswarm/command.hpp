// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace virtswarm {

// One helper program (qemu-img, mkfs, mount, lvcreate, ...) run as a child process watched
// by the event loop: the loop never waits for it. Its standard output is collected (and
// handed out line by line, '\r' ending a line too, so qemu-img's progress arrives as it is
// printed); standard error becomes the error message when it fails.
class Command : public std::enable_shared_from_this<Command> {
public:
    using Done = std::function<void(Result<std::string> stdoutText)>;
    using LineHandler = std::function<void(std::string_view line)>;

    // The command keeps itself alive until `done` has been called; the returned pointer
    // is only needed to cancel it.
    // `passFds`: (fd here, fd number in the child), e.g. a client's file as /dev/fd/3.
    static std::shared_ptr<Command> run(EventLoop& loop, std::vector<std::string> argv, Done done,
                                        LineHandler onLine = {},
                                        std::vector<std::pair<int, int>> passFds = {});

    // SIGTERM to the child; `done` is called (once it has exited) with OperationFailed
    // "cancelled", never with success.
    void cancel();
    bool finished() const { return m_finished; }

    Command(EventLoop& loop, std::vector<std::string> argv, Done done, LineHandler onLine);
    ~Command();
    Command(const Command&) = delete;
    Command& operator=(const Command&) = delete;

private:
    Result<void> start(const std::vector<std::pair<int, int>>& passFds);
    void readStdout();
    void readStderr();
    void exited(const siginfo_t& info);
    void finish(Result<std::string> result);

    EventLoop& m_loop;
    std::vector<std::string> m_argv;
    Done m_done;
    LineHandler m_onLine;
    pid_t m_pid = -1;
    int m_stdout = -1;
    int m_stderr = -1;
    EventSource m_stdoutWatch;
    EventSource m_stderrWatch;
    EventSource m_childWatch;
    std::string m_out;
    std::string m_err;
    std::string m_partialLine;
    bool m_cancelled = false;
    bool m_finished = false;
    std::shared_ptr<Command> m_self; // alive while the child runs
};

// Runs the commands one after the other, stopping at the first failure.
void runSequence(EventLoop& loop, std::vector<std::vector<std::string>> commands,
                 std::function<void(Result<void>)> done);

} // namespace virtswarm
