// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace virtswarm::qmp {

// The monitor peer is untrusted: whatever QEMU sends, these bound what it can cost the
// shim in memory and loop time.
struct Limits {
    // A longer line (or one that never ends) is a fatal protocol error.
    size_t maxLineBytes = 1 << 20;
    // Deeper JSON is refused before parsing, so no recursive walk over a message (copy,
    // dump, a handler's own traversal) can overflow the stack.
    size_t maxNestingDepth = 256;
    size_t maxPendingCommands = 64;
    // Commands not yet accepted by the socket; a monitor that stops reading must not
    // make the queue grow without bound.
    size_t maxQueuedOutputBytes = 1 << 20;
    std::chrono::milliseconds defaultTimeout{5000};
    // Events beyond this in one second are dropped (and counted), not delivered.
    size_t maxEventsPerSecond = 1000;
    // The QEMU guest agent speaks the same JSON commands but sends no greeting and has no
    // capabilities negotiation: with false, the client is ready once connected.
    bool greeting = true;
};

// An asynchronous client for one QMP monitor connection, served by the EventLoop.
//
// Callbacks are never called from inside start(), connect(), execute() or close(): errors
// found there are delivered on a later loop iteration. Any callback may destroy the
// Client; callbacks still owed at that point are dropped.
class Client {
public:
    // The "return" member of the reply, or the error.
    using Reply = std::function<void(Result<nlohmann::json>)>;
    using EventHandler = std::function<void(const std::string& event, const nlohmann::json& data)>;
    // Once per connection that reached ready, when the monitor went away or broke the
    // protocol. Not called for close() or destruction, nor for handshake failures
    // (those go to the ready callback).
    using ClosedHandler = std::function<void(const Error& why)>;
    using ReadyHandler = std::function<void(Result<void>)>;

    explicit Client(EventLoop& loop, Limits limits = {});
    // Pending commands are dropped: their callbacks are never called.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Takes ownership of a connected stream socket (also on failure: it is then closed),
    // makes it nonblocking and performs the greeting + qmp_capabilities handshake, bounded
    // by Limits::defaultTimeout. Allowed again after the previous connection closed.
    void start(int fd, ReadyHandler ready);
    // Connects to a unix socket first; the same deadline covers connecting too.
    void connect(const std::string& socketPath, ReadyHandler ready);

    // Only once ready. The reply comes exactly once (unless the Client is destroyed).
    // After a timeout the command may still run in QEMU; its late reply is ignored.
    void execute(const std::string& command, nlohmann::json arguments, Reply reply,
                 std::optional<std::chrono::milliseconds> timeout = {});
    // The same, with a copy of `fd` sent along (SCM_RIGHTS on the command's first byte),
    // as QMP's getfd and add-fd expect. The caller keeps `fd`; the copy is closed once
    // sent or when the connection goes away.
    void executeWithFd(const std::string& command, nlohmann::json arguments, int fd, Reply reply,
                       std::optional<std::chrono::milliseconds> timeout = {});

    void onEvent(EventHandler handler);
    void onClosed(ClosedHandler handler);
    // Called when events start being dropped in a rate window: whoever tracks state from
    // events should re-read it (query-status) rather than trust what it has.
    void onEventsDropped(std::function<void()> handler);

    bool connected() const { return m_state == State::Ready; }
    // The "QMP" member of the greeting (version, capabilities); null before it arrived.
    const nlohmann::json& greeting() const { return m_greeting; }
    uint64_t droppedEvents() const { return m_droppedEvents; }

    // Pending commands (and a handshake in progress) fail with HypervisorGone.
    void close();

private:
    enum class State { Idle, Connecting, Greeting, Negotiating, Ready, Closed };
    enum class Delivery { Now, Deferred };

    struct Pending {
        std::string command;
        Reply reply;
        EventSource timer;
    };

    bool beginStart(ReadyHandler ready, State state);
    // The socket is connected: the greeting comes next, or (no greeting) ready.
    void socketConnected();
    void enqueue(const std::string& command, nlohmann::json arguments, int fd, Reply reply,
                 std::optional<std::chrono::milliseconds> timeout);
    enum class SendResult { Sent, Full, Failed };
    // Sends from m_outOffset up to the next fd boundary. After Failed the connection is
    // shut down and its callbacks have run: they may have destroyed this object.
    SendResult sendSome();
    void discardOutput();
    bool watch(uint32_t events, Delivery delivery);
    void tryConnect(Delivery delivery);
    void finishConnect();
    void onIo(uint32_t revents);
    void readInput();
    void flushOutput();
    void updateIoEvents();
    void handleLine(std::string_view line);
    void handleGreeting(nlohmann::json& message);
    void handleEvent(nlohmann::json& message);
    void handleReply(nlohmann::json& message);
    bool admitEvent(const std::string& name);
    void onCommandTimeout(uint64_t id);
    void post(std::function<void()> callback);
    void protocolError(std::string message);
    void shutdown(const Error& why, Delivery delivery, bool notifyClosed);

    EventLoop& m_loop;
    Limits m_limits;
    State m_state = State::Idle;
    // Bumped whenever a connection starts or ends, so code resuming after a callback can
    // tell that the connection it was serving is gone.
    uint64_t m_generation = 0;
    int m_fd = -1;
    std::string m_socketPath;
    EventSource m_io;
    bool m_wantWrite = false;
    EventSource m_handshakeTimer;
    EventSource m_retryTimer;
    ReadyHandler m_ready;
    uint64_t m_capabilitiesId = 0;
    nlohmann::json m_greeting;

    std::string m_in;
    std::string m_out;
    size_t m_outOffset = 0;
    // Descriptors to attach, each at its offset in m_out (ascending), owned until sent.
    std::deque<std::pair<size_t, int>> m_outFds;

    uint64_t m_nextId = 1;
    std::map<uint64_t, Pending> m_pending;

    // Shared so a handler replaced or destroyed from inside itself stays alive until it returns.
    std::shared_ptr<EventHandler> m_onEvent;
    std::shared_ptr<ClosedHandler> m_onClosed;

    std::chrono::steady_clock::time_point m_windowStart;
    // Per event name, so a flood of one kind of event cannot crowd out the few that carry
    // state (STOP, RESUME, SHUTDOWN...). At most kTrackedEventNames names get their own
    // budget; any others share one.
    std::map<std::string, size_t> m_eventsInWindow;
    size_t m_droppedInWindow = 0;
    std::shared_ptr<std::function<void()>> m_onDropped;
    uint64_t m_droppedEvents = 0;

    Lifetime m_lifetime;
};

} // namespace virtswarm::qmp
