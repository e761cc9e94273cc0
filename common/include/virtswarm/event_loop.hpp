// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <signal.h>
#include <sys/types.h>
#include <vector>

struct sd_event;
struct sd_event_source;

namespace sdbus {
class IConnection;
class Error;
} // namespace sdbus

namespace virtswarm {

// An event source that stays registered as long as this object lives.
// Dropping it from inside its own callback is safe.
class EventSource {
public:
    EventSource() = default;
    explicit EventSource(sd_event_source* source)
        : m_source(source) {}
    EventSource(EventSource&& other) noexcept
        : m_source(other.m_source) {
        other.m_source = nullptr;
    }
    EventSource& operator=(EventSource&& other) noexcept;
    EventSource(const EventSource&) = delete;
    EventSource& operator=(const EventSource&) = delete;
    ~EventSource() { reset(); }

    void reset();
    explicit operator bool() const { return m_source != nullptr; }
    sd_event_source* raw() const { return m_source; }

private:
    sd_event_source* m_source = nullptr;
};

// The single-threaded main loop of every daemon: sd-event, with the sdbus-c++
// connection's poll fd attached so D-Bus traffic, timers, child processes and
// sockets are all served by one thread, without locks.
class EventLoop {
public:
    // Blocks SIGCHLD, SIGTERM and SIGINT in the calling thread: sd-event reads them
    // through signalfd, and child processes get them unblocked again (ChildProcess).
    static Result<std::unique_ptr<EventLoop>> create();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    sd_event* raw() const { return m_event; }

    // Serves the connection from this loop (any number of them: a session-mode shim also
    // talks to the system bus). The connection must outlive the loop's use of it.
    Result<void> attachBus(sdbus::IConnection& connection);

    EventSource addIo(int fd, uint32_t events, std::function<void(uint32_t revents)> callback);
    // One-shot timer, relative to now on CLOCK_MONOTONIC.
    EventSource addTimer(std::chrono::microseconds after, std::function<void()> callback);
    // Called once when the child exits (or is killed); the child is reaped.
    EventSource addChild(pid_t pid, std::function<void(const siginfo_t&)> callback);
    EventSource addSignal(int signal, std::function<void()> callback);
    // Runs the callback on the next iteration, outside the current call stack.
    void defer(std::function<void()> callback);

    // SIGTERM/SIGINT end the loop with exit code 0.
    void exitOnTermination();
    int run();
    void exit(int code);

private:
    explicit EventLoop(sd_event* event)
        : m_event(event) {}
    struct BusAttachment {
        sdbus::IConnection* connection;
        EventSource io;
        EventSource timer;
        bool failed = false; // the connection broke: no longer watched
    };
    void busFailed(BusAttachment& bus, const sdbus::Error& error);
    void processBus(BusAttachment& bus);
    void updateBusPollData();

    sd_event* m_event;
    std::vector<std::unique_ptr<BusAttachment>> m_buses;
    std::vector<EventSource> m_ownedSources;
};

} // namespace virtswarm
