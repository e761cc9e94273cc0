// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/event_loop.hpp"

#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sdbus-c++/Error.h>
#include <sdbus-c++/IConnection.h>
#include <systemd/sd-event.h>
#include <vector>

namespace virtswarm {
namespace {

// The callback lives on the heap, owned by the sd_event_source (freed by its destroy
// callback). The trampoline copies the shared_ptr before calling, so a callback that
// drops its own EventSource keeps running on a live object.
template <typename Fn> using Holder = std::shared_ptr<Fn>;

template <typename Fn> void* makeHolder(Fn fn) {
    return new Holder<Fn>(std::make_shared<Fn>(std::move(fn)));
}

template <typename Fn> void destroyHolder(void* userdata) {
    delete static_cast<Holder<Fn>*>(userdata);
}

template <typename Fn> Holder<Fn> holderOf(void* userdata) {
    return *static_cast<Holder<Fn>*>(userdata);
}

using IoFn = std::function<void(uint32_t)>;
using VoidFn = std::function<void()>;
using ChildFn = std::function<void(const siginfo_t&)>;

int onIo(sd_event_source*, int, uint32_t revents, void* userdata) {
    auto fn = holderOf<IoFn>(userdata);
    (*fn)(revents);
    return 0;
}

int onTime(sd_event_source*, uint64_t, void* userdata) {
    auto fn = holderOf<VoidFn>(userdata);
    (*fn)();
    return 0;
}

int onDefer(sd_event_source* source, void* userdata) {
    auto fn = holderOf<VoidFn>(userdata);
    // One-shot: off before running, so the callback may defer again freely. The source
    // is floating and goes with the loop (see EventLoop::defer).
    sd_event_source_set_enabled(source, SD_EVENT_OFF);
    (*fn)();
    sd_event_source_set_floating(source, 0);
    sd_event_source_unref(source);
    return 0;
}

int onChild(sd_event_source*, const siginfo_t* info, void* userdata) {
    auto fn = holderOf<ChildFn>(userdata);
    (*fn)(*info);
    return 0;
}

int onSignal(sd_event_source*, const signalfd_siginfo*, void* userdata) {
    auto fn = holderOf<VoidFn>(userdata);
    (*fn)();
    return 0;
}

uint64_t monotonicNowUsec(sd_event* event) {
    uint64_t now = 0;
    sd_event_now(event, CLOCK_MONOTONIC, &now);
    return now;
}

} // namespace

EventSource& EventSource::operator=(EventSource&& other) noexcept {
    if (this != &other) {
        reset();
        m_source = other.m_source;
        other.m_source = nullptr;
    }
    return *this;
}

void EventSource::reset() {
    if (m_source != nullptr) {
        sd_event_source_disable_unref(m_source);
        m_source = nullptr;
    }
}

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    // A peer closing a socket must be an error return, not a fatal signal.
    signal(SIGPIPE, SIG_IGN);

    sd_event* event = nullptr;
    int r = sd_event_new(&event);
    if (r < 0) {
        return Error(Code::Internal, std::string("sd_event_new: ") + std::strerror(-r));
    }
    return std::unique_ptr<EventLoop>(new EventLoop(event));
}

EventLoop::~EventLoop() {
    m_buses.clear();
    m_ownedSources.clear();
    sd_event_unref(m_event);
}

EventSource EventLoop::addIo(int fd, uint32_t events, std::function<void(uint32_t)> callback) {
    sd_event_source* source = nullptr;
    void* holder = makeHolder<IoFn>(std::move(callback));
    int r = sd_event_add_io(m_event, &source, fd, events, onIo, holder);
    if (r < 0) {
        destroyHolder<IoFn>(holder);
        log::error(std::string("sd_event_add_io: ") + std::strerror(-r));
        return {};
    }
    sd_event_source_set_destroy_callback(source, destroyHolder<IoFn>);
    return EventSource(source);
}

EventSource EventLoop::addTimer(std::chrono::microseconds after, std::function<void()> callback) {
    sd_event_source* source = nullptr;
    void* holder = makeHolder<VoidFn>(std::move(callback));
    uint64_t when = monotonicNowUsec(m_event) + static_cast<uint64_t>(after.count());
    // Accuracy 1 ms: 0 would mean sd-event's default slack of 250 ms, far too coarse for
    // command timeouts and the bus connection's own deadlines.
    int r = sd_event_add_time(m_event, &source, CLOCK_MONOTONIC, when, 1000, onTime, holder);
    if (r < 0) {
        destroyHolder<VoidFn>(holder);
        log::error(std::string("sd_event_add_time: ") + std::strerror(-r));
        return {};
    }
    sd_event_source_set_destroy_callback(source, destroyHolder<VoidFn>);
    return EventSource(source);
}

EventSource EventLoop::addChild(pid_t pid, std::function<void(const siginfo_t&)> callback) {
    sd_event_source* source = nullptr;
    void* holder = makeHolder<ChildFn>(std::move(callback));
    int r = sd_event_add_child(m_event, &source, pid, WEXITED, onChild, holder);
    if (r < 0) {
        destroyHolder<ChildFn>(holder);
        log::error(std::string("sd_event_add_child: ") + std::strerror(-r));
        return {};
    }
    sd_event_source_set_destroy_callback(source, destroyHolder<ChildFn>);
    return EventSource(source);
}

EventSource EventLoop::addSignal(int sig, std::function<void()> callback) {
    sd_event_source* source = nullptr;
    void* holder = makeHolder<VoidFn>(std::move(callback));
    int r = sd_event_add_signal(m_event, &source, sig, onSignal, holder);
    if (r < 0) {
        destroyHolder<VoidFn>(holder);
        log::error(std::string("sd_event_add_signal: ") + std::strerror(-r));
        return {};
    }
    sd_event_source_set_destroy_callback(source, destroyHolder<VoidFn>);
    return EventSource(source);
}

void EventLoop::defer(std::function<void()> callback) {
    sd_event_source* source = nullptr;
    void* holder = makeHolder<VoidFn>(std::move(callback));
    int r = sd_event_add_defer(m_event, &source, onDefer, holder);
    if (r < 0) {
        destroyHolder<VoidFn>(holder);
        log::error(std::string("sd_event_add_defer: ") + std::strerror(-r));
        return;
    }
    sd_event_source_set_destroy_callback(source, destroyHolder<VoidFn>);
    // Floating: owned by the loop, so one that never ran is freed with the loop instead
    // of keeping it alive; one that ran frees itself (onDefer).
    // set_floating(1) hands our reference to the loop.
    sd_event_source_set_floating(source, 1);
}

void EventLoop::exitOnTermination() {
    for (int sig : {SIGTERM, SIGINT}) {
        m_ownedSources.push_back(addSignal(sig, [this] { exit(0); }));
    }
}

int EventLoop::run() {
    // What the buses wait for may have changed since they were attached, outside any
    // dispatch (the post source only follows one): a synchronous call made while setting
    // up (RequestName, AddMatch) reads whatever the bus sends meanwhile into sd-bus's own
    // queue. A method call queued for this daemon's activation arrives right with the
    // RequestName reply; the socket is then drained, so only a zero timeout
    // (sd_bus_get_timeout with queued messages) gets it dispatched.
    updateBusPollData();
    return sd_event_loop(m_event);
}

void EventLoop::exit(int code) {
    sd_event_exit(m_event, code);
}

// sdbus-c++ 1.2 cannot attach to sd-event itself; it tells us which fd, events and
// timeout its sd-bus wants (getEventLoopPollData); we refresh them after every dispatch.
Result<void> EventLoop::attachBus(sdbus::IConnection& connection) {
    auto bus = std::make_unique<BusAttachment>();
    BusAttachment* raw = bus.get();
    bus->connection = &connection;
    auto data = connection.getEventLoopPollData();
    bus->io = addIo(data.fd, static_cast<uint32_t>(data.events),
                    [this, raw](uint32_t) { processBus(*raw); });
    bus->timer = addTimer(std::chrono::microseconds(0), [this, raw] { processBus(*raw); });
    if (!bus->io || !bus->timer) {
        return Error(Code::Internal, "cannot attach the bus connection to the event loop");
    }
    bool first = m_buses.empty();
    m_buses.push_back(std::move(bus));
    if (first) {
        // A post source runs after every iteration that dispatched anything, which is where
        // new outgoing messages or pending replies may have changed what sd-bus waits for.
        sd_event_source* post = nullptr;
        int r = sd_event_add_post(
            m_event, &post,
            [](sd_event_source*, void* userdata) -> int {
                static_cast<EventLoop*>(userdata)->updateBusPollData();
                return 0;
            },
            this);
        if (r < 0) {
            return Error(Code::Internal, std::string("sd_event_add_post: ") + std::strerror(-r));
        }
        m_ownedSources.emplace_back(post);
    }
    updateBusPollData();
    return success();
}

void EventLoop::processBus(BusAttachment& bus) {
    // Bounded so one busy connection cannot starve timers, children and other fds; what
    // is left makes the next poll timeout zero (sd_bus_get_timeout) and runs right after.
    constexpr int kMaxMessagesPerWakeup = 64;
    try {
        for (int i = 0; i < kMaxMessagesPerWakeup; ++i) {
            if (!bus.connection->processPendingRequest()) {
                break;
            }
        }
    } catch (const sdbus::Error& e) {
        busFailed(bus, e);
        return;
    }
    updateBusPollData();
}

namespace {

// A connection the other end closed (dbus-daemon stopped, the session ended): sd-bus's
// ECONNRESET is org.freedesktop.DBus.Error.Disconnected; other errnos keep their names.
bool isDisconnection(const sdbus::Error& e) {
    for (const char* name :
         {"Error.Disconnected", "ECONNRESET", "ENOTCONN", "EPIPE", "ESHUTDOWN"}) {
        if (e.getName().find(name) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

// A daemon without its bus has nobody left to serve: it leaves the loop, cleanly (0) when
// the bus went away, with 1 on any other failure. The bus stops being watched, so nothing
// asks the dead connection anything again.
void EventLoop::busFailed(BusAttachment& bus, const sdbus::Error& e) {
    if (isDisconnection(e)) {
        log::notice("the D-Bus connection closed (" + e.getMessage() + "); exiting");
    } else {
        log::error("D-Bus connection failed: " + e.getMessage());
    }
    bus.io.reset();
    bus.timer.reset();
    bus.failed = true;
    exit(isDisconnection(e) ? 0 : 1);
}

// Never throws: it runs from sd-event's post source, a C callback.
void EventLoop::updateBusPollData() {
    for (auto& bus : m_buses) {
        if (bus->failed) {
            continue;
        }
        sdbus::IConnection::PollData data{};
        try {
            data = bus->connection->getEventLoopPollData();
        } catch (const sdbus::Error& e) {
            busFailed(*bus, e);
            continue;
        }
        sd_event_source_set_io_events(bus->io.raw(), static_cast<uint32_t>(data.events));
        if (data.timeout_usec == UINT64_MAX) {
            sd_event_source_set_enabled(bus->timer.raw(), SD_EVENT_OFF);
        } else {
            sd_event_source_set_time(bus->timer.raw(), data.timeout_usec);
            sd_event_source_set_enabled(bus->timer.raw(), SD_EVENT_ONESHOT);
        }
    }
}

} // namespace virtswarm
