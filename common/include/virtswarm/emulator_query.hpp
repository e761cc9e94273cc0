// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Facts only the installed emulator knows, asked of it: its version
// (`qemu-system-x86_64 --version`, for CONNECT_GET_VERSION) and its CPU models (`-cpu help`,
// for CONNECT_GET_CPU_MODEL_NAMES) for the bridge, its machine types (`-machine help`) for
// the registry's canonical XML. Each question runs once, in a child process watched by
// the loop, so no handler ever waits on a child; an upgraded QEMU shows after the daemon
// restarts.
namespace virtswarm {

// "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)" -> 7002022, as libvirt's
// QEMU driver reports it (major * 1,000,000 + minor * 1,000 + micro).
std::optional<uint64_t> parseQemuVersion(std::string_view output);
// The CPU models of `-cpu help` under libvirt's names: no versioned aliases ("486-v1") and
// none of the modes libvirt spells otherwise (host, max, base).
std::vector<std::string> parseCpuModels(std::string_view cpuHelp);

class EmulatorQuery {
public:
    using Done = std::function<void(Result<std::string>)>;

    // `arguments` follow the emulator on the command line.
    EmulatorQuery(EventLoop& loop, std::string emulator, std::vector<std::string> arguments);
    ~EmulatorQuery();
    EmulatorQuery(const EmulatorQuery&) = delete;
    EmulatorQuery& operator=(const EmulatorQuery&) = delete;

    // The emulator's output (stdout), or why there is none.
    void get(Done done);

private:
    void probe();
    void finish(Result<std::string> result);

    EventLoop& m_loop;
    std::string m_emulator;
    std::vector<std::string> m_arguments;
    std::optional<std::string> m_answer;
    std::vector<Done> m_waiting;
    int m_pipe = -1;
    pid_t m_child = 0;
    std::string m_output;
    EventSource m_io;
    EventSource m_exit;
    EventSource m_deadline;
};

} // namespace virtswarm
