// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/daemon_runtime.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace virtswarm::service {

// Re-executing a daemon in place (an upgrade: the binary on disk may be a new one). The
// process (its pid, which systemd, clients and lockd's holders may know) stays. What the
// new image needs is the daemon's to hand over: lockd's leases are all on disk already;
// logd leaves its pipes open across execve and names them in a state descriptor.
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

// First thing in main(): SIGUSR1 (re-exec) is read by the loop, and must not kill the
// daemon while that is not yet set up. A re-executed image inherits the mask.
void blockReexecSignal();

// What a daemon hands to its next image besides descriptors: JSON in a memfd that stays
// open across execve, its number in the environment variable `variable`. Descriptors the
// state names must be made inheritable (not close-on-exec) by the caller.
Result<void> passState(const char* variable, const nlohmann::json& state);
// In the next image: the state its predecessor passed, or none (a first start). The
// variable goes, so nothing this process starts inherits it, and so does the memfd.
Result<std::optional<nlohmann::json>> takeState(const char* variable);

// What starts a re-exec of a running daemon: SIGUSR1, or its Reexec method (request()).
// The bus name goes first: a call sent from then on (after Reexec's reply too) waits in
// the bus for the name's next owner, the new image, instead of reaching this connection
// after its last dispatch (calls the bus delivered before and not yet read get NoReply).
// Then the daemon settles, if it has something to finish first, and the loop ends; main()
// hands over and execs.
class ReexecRequest {
public:
    // Before the loop ends: calls `settled` once the daemon may stop (proxyd, once the
    // calls in flight are answered or a cap has passed).
    using Settle = std::function<void(std::function<void()> settled)>;

    struct Steps {
        // The well-known name released first; none for a daemon that owns none (proxyd,
        // a client of the bus).
        std::optional<std::string> busName{};
        // None: the loop ends at once.
        Settle settle{};
        // What the journal is told when the re-exec starts.
        std::string notice = "re-executing";
    };

    ReexecRequest(DaemonRuntime& daemon, std::string busName);
    ReexecRequest(DaemonRuntime& daemon, Steps steps);
    void request();
    bool requested() const { return m_requested; }

private:
    DaemonRuntime& m_daemon;
    Steps m_steps;
    bool m_requested = false;
    EventSource m_signal;
};

// A daemon's Reexec method: its options (none), polkit `action`, then `reexec` (a
// ReexecRequest's request()) and the answer.
void handleReexecMethod(MethodGate& gate, sdbus::Result<>&& result, const Options& options,
                        const actions::MethodAction& action, const std::function<void()>& reexec);

} // namespace virtswarm::service
