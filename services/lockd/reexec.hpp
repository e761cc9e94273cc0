// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>
#include <vector>

namespace virtswarm::lock {

// Re-executing lockd in place (an upgrade: the binary on disk may be a new one). The
// leases need nothing handed across execve: every change is on disk before it is
// answered, and the new image re-reads the table and asks the bus driver which holders
// are still there. The process (its pid, which systemd and clients may know) stays.
class Reexec {
public:
    // Remembers how this process was started: the binary's path (not /proc/self/exe,
    // which after an upgrade still names the old, deleted binary) and the arguments.
    Reexec(int argc, char** argv);
    // Replaces this process's image; returns only if that failed.
    Error exec() const;

private:
    std::string m_binary;
    std::vector<std::string> m_argv;
};

} // namespace virtswarm::lock
