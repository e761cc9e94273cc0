// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/service/reexec.hpp"

#include "virtswarm/log.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
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

Result<void> passState(const char* variable, const nlohmann::json& state) {
    std::string text = state.dump();
    int fd = ::memfd_create("virtswarm-reexec-state", 0); // not close-on-exec
    if (fd < 0) {
        return Error(Code::OperationFailed, std::string("memfd_create: ") + std::strerror(errno));
    }
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::lseek(fd, 0, SEEK_SET) != 0) {
        ::close(fd);
        return Error(Code::OperationFailed, "cannot write the re-exec state");
    }
    ::setenv(variable, std::to_string(fd).c_str(), 1);
    return success();
}

Result<std::optional<nlohmann::json>> takeState(const char* variable) {
    const char* text = std::getenv(variable);
    if (text == nullptr) {
        return std::optional<nlohmann::json>();
    }
    int fd = -1;
    std::from_chars(text, text + std::strlen(text), fd);
    ::unsetenv(variable);
    if (fd < 0) {
        return Error(Code::InvalidArgs, std::string(variable) + " names no descriptor");
    }
    std::string state;
    char buffer[64 * 1024];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
        state.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    auto parsed = nlohmann::json::parse(state, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return Error(Code::InvalidArgs, "the re-exec state does not parse");
    }
    return std::optional<nlohmann::json>(std::move(parsed));
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
