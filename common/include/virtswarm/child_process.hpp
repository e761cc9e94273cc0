// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <csignal>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace virtswarm {

struct SpawnOptions {
    std::vector<std::string> argv;
    // Extra "NAME=value" entries on top of the parent's environment.
    std::vector<std::string> environment;
    // (fd in the parent, fd number in the child); everything else is closed.
    std::vector<std::pair<int, int>> passFds;
    int stdinFd = -1; // -1: /dev/null
    int stdoutFd = -1;
    int stderrFd = -1; // -1: inherit the parent's
    // Own session, so a terminal hang-up or the parent's process group being killed
    // does not reach the child (a VM must outlive its managers).
    bool newSession = true;
    // Run the program as this user and group (supplementary groups cleared). Used to
    // start QEMU unprivileged from a root shim.
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    // Killed (SIGKILL) when the parent dies: a helper whose work only the parent can finish
    // (storaged's qemu-img writing a partial volume) must not outlive it. Never for QEMU.
    bool dieWithParent = false;
};

// fork + exec with a clean signal mask and only the listed fds. A failure to exec is
// reported as an Error (through a close-on-exec pipe), not as a child that exits 127.
Result<pid_t> spawnProcess(const SpawnOptions& options);

std::string describeExit(const siginfo_t& info);

} // namespace virtswarm
