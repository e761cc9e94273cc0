// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace virtswarm {
namespace {

// Runs in the forked child. The child may still allocate: our daemons' only other thread
// (hypervisord's service::CommitQueue worker) takes no lock but malloc's, which glibc's
// fork resets in the child. It only must not return into the parent's code.
[[noreturn]] void childFail(int pipeFd, int err) {
    ssize_t ignored = ::write(pipeFd, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

[[noreturn]] void execChild(const SpawnOptions& options, char* const* argv, char* const* envp,
                            int errorPipe, pid_t parent) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) {
        signal(sig, SIG_DFL);
    }
    if (options.newSession && setsid() < 0) {
        childFail(errorPipe, errno);
    }
    // The parent may have died between fork and prctl: then nobody would send the signal.
    if (options.dieWithParent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)) {
        _exit(127);
    }

    // Move every fd we keep above the target range first, so dup2 cannot clobber a
    // source that is also someone else's target.
    constexpr int kScratchBase = 512;
    std::vector<std::pair<int, int>> moved;
    auto lift = [&](int fd, int target) {
        int high = fcntl(fd, F_DUPFD, kScratchBase);
        if (high < 0) {
            childFail(errorPipe, errno);
        }
        moved.emplace_back(high, target);
    };
    int devnull = ::open("/dev/null", O_RDWR);
    lift(options.stdinFd >= 0 ? options.stdinFd : devnull, 0);
    if (options.stdoutFd >= 0) {
        lift(options.stdoutFd, 1);
    }
    if (options.stderrFd >= 0) {
        lift(options.stderrFd, 2);
    }
    for (auto [from, to] : options.passFds) {
        lift(from, to);
    }
    for (auto [from, to] : moved) {
        if (dup2(from, to) < 0) {
            childFail(errorPipe, errno);
        }
    }
    int highestKept = 2;
    for (auto [from, to] : moved) {
        highestKept = std::max(highestKept, to);
    }
    // Mark everything else close-on-exec rather than closing it, so the error pipe
    // stays usable until exec succeeds.
    if (close_range(static_cast<unsigned>(highestKept) + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = highestKept + 1; fd < 65536; ++fd) {
            if (fd != errorPipe) {
                ::close(fd);
            }
        }
    }
    if (options.gid && (setgroups(0, nullptr) < 0 || setgid(*options.gid) < 0)) {
        childFail(errorPipe, errno);
    }
    if (options.uid && setuid(*options.uid) < 0) {
        childFail(errorPipe, errno);
    }
    execve(argv[0], argv, envp);
    childFail(errorPipe, errno);
}

} // namespace

Result<pid_t> spawnProcess(const SpawnOptions& options) {
    if (options.argv.empty()) {
        return Error(Code::Internal, "spawnProcess: empty argv");
    }
    // Everything the child needs is prepared before fork: no allocation after it.
    std::vector<char*> argv;
    for (const auto& a : options.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<std::string> envStrings;
    for (char** e = environ; *e != nullptr; ++e) {
        envStrings.emplace_back(*e);
    }
    envStrings.insert(envStrings.end(), options.environment.begin(), options.environment.end());
    std::vector<char*> envp;
    for (auto& e : envStrings) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) < 0) {
        return Error(Code::OperationFailed, std::string("pipe2: ") + std::strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        ::close(pipeFds[0]);
        ::close(pipeFds[1]);
        return Error(Code::OperationFailed, std::string("fork: ") + std::strerror(err));
    }
    if (pid == 0) {
        ::close(pipeFds[0]);
        execChild(options, argv.data(), envp.data(), pipeFds[1], parent);
    }
    ::close(pipeFds[1]);
    int childErrno = 0;
    ssize_t n;
    do {
        n = ::read(pipeFds[0], &childErrno, sizeof childErrno);
    } while (n < 0 && errno == EINTR);
    ::close(pipeFds[0]);
    if (n > 0) {
        // exec failed: collect the child so it does not linger as a zombie.
        waitpid(pid, nullptr, 0);
        return Error(Code::OperationFailed,
                     "cannot execute " + options.argv[0] + ": " + std::strerror(childErrno));
    }
    return pid;
}

std::string describeExit(const siginfo_t& info) {
    switch (info.si_code) {
    case CLD_EXITED:
        return "exited with status " + std::to_string(info.si_status);
    case CLD_KILLED:
    case CLD_DUMPED:
        return std::string("killed by signal ") + sigabbrev_np(info.si_status);
    default:
        return "ended (code " + std::to_string(info.si_code) + ")";
    }
}

} // namespace virtswarm
