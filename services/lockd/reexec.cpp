// SPDX-License-Identifier: LGPL-2.1-or-later
#include "reexec.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <unistd.h>

namespace virtswarm::lock {
namespace {

// The path this binary was started from, as the kernel recorded it.
std::string ownBinary() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        return {};
    }
    std::string path(buf, static_cast<size_t>(n));
    // Replaced by an upgrade: the new binary is at the same path.
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() > kDeleted.size() && path.ends_with(kDeleted)) {
        path.resize(path.size() - kDeleted.size());
    }
    return path;
}

} // namespace

Reexec::Reexec(int argc, char** argv)
    : m_binary(ownBinary()) {
    for (int i = 0; i < argc; ++i) {
        m_argv.emplace_back(argv[i]);
    }
}

Error Reexec::exec() const {
    if (m_binary.empty()) {
        return Error(Code::Internal, "cannot tell which binary to re-execute");
    }
    std::vector<char*> argv;
    for (const auto& a : m_argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    // Every descriptor of this process is close-on-exec (the bus, sd-event's, pidfds):
    // the new image starts clean. Blocked signals stay blocked, as its loop wants them.
    ::execv(m_binary.c_str(), argv.data());
    return Error(Code::OperationFailed,
                 "cannot re-execute " + m_binary + ": " + std::strerror(errno));
}

} // namespace virtswarm::lock
