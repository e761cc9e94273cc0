// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/service/reexec.hpp"

#include "virtswarm/log.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <unistd.h>

namespace virtswarm::service {
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
    // Every descriptor of this process is close-on-exec (the bus, sd-event's, pidfds)
    // unless the daemon cleared it to hand the descriptor over: the new image starts
    // clean. Blocked signals stay blocked, as its loop wants them.
    ::execv(m_binary.c_str(), argv.data());
    return Error(Code::OperationFailed,
                 "cannot re-execute " + m_binary + ": " + std::strerror(errno));
}

void blockReexecSignal() {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, nullptr);
}

ReexecRequest::ReexecRequest(DaemonRuntime& daemon, std::string busName)
    : ReexecRequest(daemon, Steps{.busName = std::move(busName)}) {}

ReexecRequest::ReexecRequest(DaemonRuntime& daemon, Steps steps)
    : m_daemon(daemon)
    , m_steps(std::move(steps))
    , m_signal(daemon.loop().addSignal(SIGUSR1, [this] { request(); })) {}

void ReexecRequest::request() {
    if (m_requested) {
        return;
    }
    log::notice(m_steps.notice);
    if (m_steps.busName) {
        try {
            m_daemon.bus().releaseName(*m_steps.busName);
        } catch (const sdbus::Error& e) {
            log::warning("releasing the name before the re-exec: " + e.getMessage());
        }
    }
    m_requested = true;
    EventLoop& loop = m_daemon.loop();
    if (m_steps.settle) {
        m_steps.settle([&loop] { loop.exit(0); });
    } else {
        loop.exit(0);
    }
}

void handleReexecMethod(MethodGate& gate, sdbus::Result<>&& result, const Options& options,
                        const actions::MethodAction& action, const std::function<void()>& reexec) {
    gate.handleFor(std::move(result), checkOptions(options, {}), action, {},
                   [reexec](const SharedResult<>& shared, const MethodGate::AuthorizedCaller&) {
                       reexec();
                       shared->returnResults();
                   });
}

} // namespace virtswarm::service
