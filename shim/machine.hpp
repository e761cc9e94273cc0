// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/qmp_client.hpp"
#include "virtswarm/shim_files.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace virtswarm::shim {

// One VM: its QEMU process, its QMP monitor and its state machine. States and reasons
// follow libvirt's model and are driven by QMP events and by QEMU's exit, never by
// polling. Knows nothing about D-Bus: MachineObject exports it.
class Machine {
public:
    using Done = std::function<void(Result<void>)>;
    struct Listener {
        std::function<void(const std::string& state, const std::string& reason)> stateChanged;
        // QEMU is gone and the final state was reported; the shim may exit.
        std::function<void()> finished;
    };

    Machine(EventLoop& loop, ShimFiles files, std::string logFile, DomainXml domain,
            Listener listener);
    ~Machine();

    // Starts QEMU paused, takes its monitor, resumes the guest. `done` runs once the
    // guest runs, or with why it could not.
    void launch(Done done);
    // Takes over a QEMU left running by a previous shim.
    void attach(Done done);

    void shutdown(Done done);
    void destroy(Done done);

    const std::string& state() const { return m_state; }
    const std::string& reason() const { return m_reason; }
    pid_t pid() const { return m_pid; }
    const DomainXml& domain() const { return m_domain; }

private:
    void setState(const std::string& state, const std::string& reason);
    void onEvent(const std::string& event, const nlohmann::json& data);
    void onMonitorClosed(const Error& why);
    void onQemuExit(std::optional<siginfo_t> status);
    void failStart(Error error);
    std::string logTail() const;
    Result<int> listenQmp();

    EventLoop& m_loop;
    ShimFiles m_files;
    std::string m_logFile;
    DomainXml m_domain;
    Listener m_listener;
    qmp::Client m_qmp;
    pid_t m_pid = 0;
    EventSource m_exitWatch;
    EventSource m_killTimer;
    std::string m_state = "shutoff";
    std::string m_reason = "unknown";
    bool m_starting = false;
    bool m_destroyRequested = false;
    std::optional<std::string> m_shutdownReason; // from QMP SHUTDOWN
    bool m_panicked = false;
    Done m_startDone;
    std::vector<Done> m_destroyWaiters;
    Lifetime m_lifetime;
};

} // namespace virtswarm::shim
