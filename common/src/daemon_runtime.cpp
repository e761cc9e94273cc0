// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/daemon_runtime.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm {

std::optional<BusMode> busModeArguments(int argc, char** argv, BusMode fallback) {
    BusMode mode = fallback;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--system") {
            mode = BusMode::System;
        } else if (arg == "--session") {
            mode = BusMode::Session;
        } else {
            return std::nullopt;
        }
    }
    return mode;
}

Result<DaemonRuntime> DaemonRuntime::start(BusMode mode, const DaemonPaths& paths) {
    if (auto r = createDaemonPaths(paths, mode); !r) {
        return r.takeError();
    }
    return start(mode);
}

Result<DaemonRuntime> DaemonRuntime::start(BusMode mode) {
    auto loop = EventLoop::create();
    if (!loop) {
        return loop.takeError();
    }
    loop.value()->exitOnTermination();
    auto bus = openBus(mode);
    if (!bus) {
        return bus.takeError();
    }
    if (auto r = loop.value()->attachBus(*bus.value()); !r) {
        return r.takeError();
    }
    return DaemonRuntime(std::move(loop).value(), std::move(bus).value(), mode);
}

Result<sdbus::IConnection*> DaemonRuntime::openExtraConnection() {
    auto bus = openBus(m_mode);
    if (!bus) {
        return bus.takeError();
    }
    if (auto r = m_loop->attachBus(*bus.value()); !r) {
        return r.takeError();
    }
    m_extraBuses.push_back(std::move(bus).value());
    return m_extraBuses.back().get();
}

Result<void> DaemonRuntime::takeName(const std::string& name) {
    try {
        m_bus->requestName(name);
    } catch (const sdbus::Error& e) {
        return Error(Code::InvalidState, "cannot own " + name + ": " + e.getMessage());
    }
    // The call that activated us was queued for the name: RequestName's synchronous wait
    // may have read it into sd-bus's queue already, where no fd event will announce it. A
    // loop iteration that dispatches something refreshes the bus's poll data (the post
    // source), which then shows the queued message, so it is answered now rather than
    // when the next message happens to arrive.
    m_loop->defer([] {});
    log::notice(std::string("ready on the ") + busModeName(m_mode) + " bus as " + name);
    return success();
}

bool DaemonRuntime::claimName(const std::string& name) {
    if (auto r = takeName(name); !r) {
        log::error(r.error().message());
        m_exitCode = 1;
        m_loop->exit(1);
        return false;
    }
    return true;
}

int DaemonRuntime::run() {
    int r = m_loop->run();
    return m_exitCode != 0 ? m_exitCode : (r < 0 ? 1 : r);
}

} // namespace virtswarm
