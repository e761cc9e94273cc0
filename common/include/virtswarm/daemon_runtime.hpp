// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <string_view>
#include <vector>

namespace virtswarm {

// A daemon's command line: [--system | --session], `fallback` when neither is given;
// nothing on a word it does not know (the daemon prints its usage and exits with 2).
std::optional<BusMode> busModeArguments(int argc, char** argv, BusMode fallback);

// What every daemon's main() sets up the same way: its directories, an event loop that
// ends on SIGTERM/SIGINT, and a bus connection served by that loop. The bus name is taken
// last (claimName), once the daemon's objects exist and its state is complete, so a
// caller that activated it never sees a half-built daemon.
class DaemonRuntime {
public:
    static Result<DaemonRuntime> start(BusMode mode, const DaemonPaths& paths);
    // The loop and the bus only, for an executable with no directories of its own (proxyd,
    // a client of the bus; the shim, which lives in the registry's runtime dir).
    static Result<DaemonRuntime> start(BusMode mode);

    EventLoop& loop() { return *m_loop; }
    sdbus::IConnection& bus() { return *m_bus; }

    // Another connection to the same bus, served by the same loop and living as long as the
    // runtime. The bus counts pending replies per connection: traffic on this one (e.g. the
    // registry's calls to its shims) cannot be starved by calls that callers make the daemon
    // send on the main one (polkit checks).
    Result<sdbus::IConnection*> openExtraConnection();

    // Takes the well-known name; if that fails the loop ends and run() returns 1, and the
    // answer is false.
    bool claimName(const std::string& name);
    // Takes the well-known name, or says why not and leaves the rest to the caller (the
    // shim, whose name is the lock that must be held before QEMU starts).
    Result<void> takeName(const std::string& name);
    int run();

private:
    DaemonRuntime(std::unique_ptr<EventLoop> loop, std::unique_ptr<sdbus::IConnection> bus,
                  BusMode mode)
        : m_loop(std::move(loop))
        , m_bus(std::move(bus))
        , m_mode(mode) {}

    // The loop outlives the connection it serves.
    std::unique_ptr<EventLoop> m_loop;
    std::unique_ptr<sdbus::IConnection> m_bus;
    std::vector<std::unique_ptr<sdbus::IConnection>> m_extraBuses;
    BusMode m_mode;
    int m_exitCode = 0;
};

} // namespace virtswarm
