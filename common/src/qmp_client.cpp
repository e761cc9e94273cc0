// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/qmp_client.hpp"

#include "virtswarm/fd_passing.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace virtswarm::qmp {
namespace {

using nlohmann::json;

// Bytes taken from the socket per wakeup: a monitor that writes without pause gets served
// in slices, and timers, D-Bus and other fds run in between.
constexpr size_t kReadBudget = 64 * 1024;
// QEMU may not be listening yet when its backlog is full; unix sockets then refuse with
// EAGAIN instead of completing asynchronously, so we retry until the handshake deadline.
constexpr std::chrono::milliseconds kConnectRetry{10};

std::string errnoText(int err) {
    return std::strerror(err);
}

// Counts nesting outside strings without parsing, so a hostile line is refused before a
// JSON tree that deep ever exists.
bool nestingWithin(std::string_view text, size_t maxDepth) {
    size_t depth = 0;
    bool inString = false;
    bool escaped = false;
    for (char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            if (++depth > maxDepth) {
                return false;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

} // namespace

Client::Client(EventLoop& loop, Limits limits)
    : m_loop(loop)
    , m_limits(limits)
    , m_windowStart(std::chrono::steady_clock::now()) {}

Client::~Client() {
    // The sources go before the fd they watch; none of them calls back from here.
    m_io.reset();
    m_handshakeTimer.reset();
    m_retryTimer.reset();
    m_pending.clear();
    discardOutput();
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

void Client::onEvent(EventHandler handler) {
    m_onEvent = std::make_shared<EventHandler>(std::move(handler));
}

void Client::onEventsDropped(std::function<void()> handler) {
    m_onDropped = std::make_shared<std::function<void()>>(std::move(handler));
}

void Client::onClosed(ClosedHandler handler) {
    m_onClosed = std::make_shared<ClosedHandler>(std::move(handler));
}

void Client::post(std::function<void()> callback) {
    m_loop.defer([guard = m_lifetime.guard(), callback = std::move(callback)] {
        if (guard.alive()) {
            callback();
        }
    });
}

void Client::start(int fd, ReadyHandler ready) {
    if (!ready) {
        ready = [](Result<void>) {};
    }
    if (m_state != State::Idle && m_state != State::Closed) {
        if (fd >= 0) {
            ::close(fd);
        }
        post([ready = std::move(ready)] {
            ready(Error(Code::InvalidState, "QMP client is already connected"));
        });
        return;
    }
    if (fd < 0) {
        post([ready = std::move(ready)] {
            ready(Error(Code::InvalidArgs, "invalid QMP socket descriptor"));
        });
        return;
    }
    if (!beginStart(std::move(ready), State::Greeting)) {
        ::close(fd);
        return;
    }
    m_fd = fd;
    socketConnected();
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        shutdown(Error(Code::InvalidArgs, "cannot configure QMP socket: " + errnoText(errno)),
                 Delivery::Deferred, false);
        return;
    }
    watch(EPOLLIN, Delivery::Deferred);
}

void Client::connect(const std::string& socketPath, ReadyHandler ready) {
    if (!ready) {
        ready = [](Result<void>) {};
    }
    if (m_state != State::Idle && m_state != State::Closed) {
        post([ready = std::move(ready)] {
            ready(Error(Code::InvalidState, "QMP client is already connected"));
        });
        return;
    }
    if (!beginStart(std::move(ready), State::Connecting)) {
        return;
    }
    m_socketPath = socketPath;
    tryConnect(Delivery::Deferred);
}

bool Client::beginStart(ReadyHandler ready, State state) {
    ++m_generation;
    m_state = state;
    m_ready = std::move(ready);
    m_in.clear();
    discardOutput();
    m_wantWrite = false;
    m_greeting = nullptr;
    m_capabilitiesId = 0;
    m_windowStart = std::chrono::steady_clock::now();
    m_eventsInWindow.clear();
    m_droppedInWindow = 0;
    auto timeout = std::max(m_limits.defaultTimeout, std::chrono::milliseconds(0));
    m_handshakeTimer = m_loop.addTimer(timeout, [this, timeout] {
        shutdown(Error(Code::Timeout,
                       "QMP handshake timed out after " + std::to_string(timeout.count()) + " ms"),
                 Delivery::Now, false);
    });
    if (!m_handshakeTimer) {
        shutdown(Error(Code::Internal, "cannot arm the QMP handshake timer"), Delivery::Deferred,
                 false);
        return false;
    }
    return true;
}

bool Client::watch(uint32_t events, Delivery delivery) {
    m_wantWrite = false;
    m_io = m_loop.addIo(m_fd, events, [this](uint32_t revents) { onIo(revents); });
    if (!m_io) {
        shutdown(Error(Code::Internal, "cannot watch the QMP socket"), delivery, false);
        return false;
    }
    return true;
}

void Client::tryConnect(Delivery delivery) {
    m_retryTimer.reset();
    m_io.reset();
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (m_socketPath.empty() || m_socketPath.size() >= sizeof(address.sun_path)) {
        shutdown(Error(Code::InvalidArgs, "invalid QMP socket path '" + m_socketPath + "'"),
                 delivery, false);
        return;
    }
    std::memcpy(address.sun_path, m_socketPath.data(), m_socketPath.size());
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        shutdown(Error(Code::Internal, "cannot create QMP socket: " + errnoText(errno)), delivery,
                 false);
        return;
    }
    if (::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
        socketConnected();
        watch(EPOLLIN, delivery);
        return;
    }
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
        // Completion shows up as writability; finishConnect() reads the outcome.
        watch(EPOLLOUT, delivery);
        return;
    }
    if (err == EAGAIN) {
        ::close(m_fd);
        m_fd = -1;
        m_retryTimer = m_loop.addTimer(kConnectRetry, [this] { tryConnect(Delivery::Now); });
        if (!m_retryTimer) {
            shutdown(Error(Code::Internal, "cannot arm the QMP connect retry timer"), delivery,
                     false);
        }
        return;
    }
    shutdown(Error(Code::HypervisorGone,
                   "cannot connect to QMP socket " + m_socketPath + ": " + errnoText(err)),
             delivery, false);
}

void Client::finishConnect() {
    int err = 0;
    socklen_t length = sizeof(err);
    if (getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0) {
        err = errno;
    }
    if (err != 0) {
        shutdown(Error(Code::HypervisorGone,
                       "cannot connect to QMP socket " + m_socketPath + ": " + errnoText(err)),
                 Delivery::Now, false);
        return;
    }
    socketConnected();
    m_wantWrite = false;
    sd_event_source_set_io_events(m_io.raw(), EPOLLIN);
}

void Client::socketConnected() {
    m_state = State::Greeting;
    if (m_limits.greeting) {
        return;
    }
    m_state = State::Ready;
    m_handshakeTimer.reset();
    // Never from inside start() or connect(): on the next loop iteration.
    post([this, generation = m_generation] {
        if (generation == m_generation && m_state == State::Ready && m_ready) {
            std::exchange(m_ready, nullptr)(success());
        }
    });
}

void Client::execute(const std::string& command, json arguments, Reply reply,
                     std::optional<std::chrono::milliseconds> timeout) {
    enqueue(command, std::move(arguments), -1, std::move(reply), timeout);
}

void Client::executeWithFd(const std::string& command, json arguments, int fd, Reply reply,
                           std::optional<std::chrono::milliseconds> timeout) {
    if (fd < 0) {
        post([reply = std::move(reply), command] {
            if (reply) {
                reply(Error(Code::InvalidArgs, "no descriptor to send with '" + command + "'"));
            }
        });
        return;
    }
    enqueue(command, std::move(arguments), fd, std::move(reply), timeout);
}

void Client::enqueue(const std::string& command, json arguments, int fd, Reply reply,
                     std::optional<std::chrono::milliseconds> timeout) {
    if (!reply) {
        reply = [](Result<json>) {};
    }
    auto fail = [this, &reply](Code code, std::string message) {
        post([reply = std::move(reply), error = Error(code, std::move(message))] { reply(error); });
    };
    if (m_state != State::Ready) {
        if (m_state == State::Idle || m_state == State::Closed) {
            fail(Code::HypervisorGone, "QMP monitor is not connected");
        } else {
            fail(Code::InvalidState, "QMP handshake has not finished");
        }
        return;
    }
    if (!arguments.is_null() && !arguments.is_object()) {
        fail(Code::InvalidArgs, "QMP arguments for '" + command + "' must be a JSON object");
        return;
    }
    if (m_pending.size() >= m_limits.maxPendingCommands) {
        fail(Code::Internal, "too many pending QMP commands (limit " +
                                 std::to_string(m_limits.maxPendingCommands) + ")");
        return;
    }
    uint64_t id = m_nextId;
    json message{{"execute", command}, {"id", id}};
    if (!arguments.is_null()) {
        message["arguments"] = std::move(arguments);
    }
    // Replacing invalid UTF-8 keeps dump() from throwing on a caller's bad string.
    std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    line += '\n';
    size_t queued = m_out.size() - m_outOffset;
    if (queued + line.size() > m_limits.maxQueuedOutputBytes) {
        fail(Code::Timeout,
             "QMP monitor is not reading its input (" + std::to_string(queued) + " bytes queued)");
        return;
    }
    auto after = std::max(timeout.value_or(m_limits.defaultTimeout), std::chrono::milliseconds(0));
    EventSource timer = m_loop.addTimer(after, [this, id] { onCommandTimeout(id); });
    if (!timer) {
        fail(Code::Internal, "cannot arm the timer for QMP command '" + command + "'");
        return;
    }
    if (fd >= 0) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) {
            fail(Code::Internal,
                 "cannot copy the descriptor for '" + command + "': " + errnoText(errno));
            return;
        }
        m_outFds.emplace_back(m_out.size(), copy);
    }
    ++m_nextId;
    m_pending.emplace(id, Pending{command, std::move(reply), std::move(timer)});
    // Written from the IO callback, so a write error is handled on the loop, not here.
    m_out += line;
    updateIoEvents();
}

void Client::close() {
    shutdown(Error(Code::HypervisorGone, "QMP connection closed"), Delivery::Deferred, false);
}

void Client::onIo(uint32_t revents) {
    if (m_state == State::Connecting) {
        finishConnect();
        return;
    }
    auto guard = m_lifetime.guard();
    uint64_t generation = m_generation;
    if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        readInput();
        if (!guard.alive() || generation != m_generation) {
            return;
        }
    }
    if ((revents & EPOLLOUT) != 0) {
        flushOutput();
    }
}

void Client::readInput() {
    size_t scanFrom = m_in.size(); // what is buffered already holds no newline
    size_t total = 0;
    bool eof = false;
    std::optional<Error> failure;
    while (total < kReadBudget) {
        size_t old = m_in.size();
        size_t want = kReadBudget - total;
        m_in.resize(old + want);
        ssize_t n = ::read(m_fd, m_in.data() + old, want);
        if (n > 0) {
            m_in.resize(old + static_cast<size_t>(n));
            total += static_cast<size_t>(n);
            continue;
        }
        m_in.resize(old);
        if (n == 0) {
            eof = true;
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            failure = Error(Code::HypervisorGone,
                            "reading from the QMP monitor failed: " + errnoText(errno));
        }
        break;
    }

    // Callbacks run between lines; one of them may close the connection or destroy us, so
    // after each one nothing is touched unless the same connection is still being served.
    auto guard = m_lifetime.guard();
    uint64_t generation = m_generation;
    size_t start = 0;
    for (;;) {
        size_t newline = m_in.find('\n', std::max(start, scanFrom));
        if (newline == std::string::npos) {
            break;
        }
        if (newline - start > m_limits.maxLineBytes) {
            break; // reported below, like an unterminated line
        }
        handleLine(std::string_view(m_in).substr(start, newline - start));
        if (!guard.alive() || generation != m_generation) {
            return;
        }
        start = newline + 1;
    }
    size_t rest = m_in.find('\n', std::max(start, scanFrom));
    if ((rest == std::string::npos ? m_in.size() : rest) - start > m_limits.maxLineBytes) {
        protocolError("QMP line exceeds " + std::to_string(m_limits.maxLineBytes) + " bytes");
        return;
    }
    if (failure) {
        shutdown(*failure, Delivery::Now, true);
        return;
    }
    if (eof) {
        shutdown(Error(Code::HypervisorGone, "QMP monitor closed the connection"), Delivery::Now,
                 true);
        return;
    }
    m_in.erase(0, start);
}

void Client::flushOutput() {
    while (m_outOffset < m_out.size()) {
        SendResult sent = sendSome();
        if (sent == SendResult::Sent) {
            continue;
        }
        if (sent == SendResult::Failed) {
            return; // shut down, and callbacks may have destroyed this object
        }
        if (m_outOffset >= kReadBudget) {
            m_out.erase(0, m_outOffset);
            for (auto& attachment : m_outFds) {
                attachment.first -= m_outOffset;
            }
            m_outOffset = 0;
        }
        updateIoEvents();
        return;
    }
    m_out.clear();
    m_outOffset = 0;
    updateIoEvents();
}

Client::SendResult Client::sendSome() {
    // A descriptor travels with the first byte of its command: a send carrying one stops
    // before the next command that has one, and a plain send stops before it too.
    bool attach = !m_outFds.empty() && m_outFds.front().first == m_outOffset;
    size_t end = m_out.size();
    for (const auto& attachment : m_outFds) {
        if (attachment.first > m_outOffset) {
            end = attachment.first;
            break;
        }
    }
    ssize_t n = sendWithFd(m_fd, m_out.data() + m_outOffset, end - m_outOffset,
                           attach ? m_outFds.front().second : -1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
        if (attach && n > 0) {
            ::close(m_outFds.front().second);
            m_outFds.pop_front();
        }
        m_outOffset += static_cast<size_t>(n);
        return SendResult::Sent;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return SendResult::Full;
    }
    shutdown(Error(Code::HypervisorGone, "writing to the QMP monitor failed: " + errnoText(errno)),
             Delivery::Now, true);
    return SendResult::Failed;
}

void Client::discardOutput() {
    m_out.clear();
    m_outOffset = 0;
    for (const auto& attachment : m_outFds) {
        ::close(attachment.second);
    }
    m_outFds.clear();
}

void Client::updateIoEvents() {
    bool want = m_outOffset < m_out.size();
    if (want == m_wantWrite || !m_io) {
        return;
    }
    m_wantWrite = want;
    sd_event_source_set_io_events(m_io.raw(), EPOLLIN | (want ? EPOLLOUT : 0u));
}

void Client::handleLine(std::string_view line) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
        return;
    }
    if (!nestingWithin(line, m_limits.maxNestingDepth)) {
        protocolError("QMP message nests deeper than " + std::to_string(m_limits.maxNestingDepth) +
                      " levels");
        return;
    }
    json message = json::parse(line.begin(), line.end(), nullptr, false);
    if (message.is_discarded()) {
        protocolError("QMP monitor sent invalid JSON");
        return;
    }
    if (!message.is_object()) {
        protocolError("QMP message is not a JSON object");
        return;
    }
    if (message.contains("QMP")) {
        handleGreeting(message);
    } else if (m_state == State::Greeting) {
        protocolError("QMP monitor did not start with a greeting");
    } else if (message.contains("event")) {
        handleEvent(message);
    } else if (message.contains("return") || message.contains("error")) {
        handleReply(message);
    } else {
        protocolError("QMP message is neither an event nor a reply");
    }
}

void Client::handleGreeting(json& message) {
    if (m_state != State::Greeting) {
        protocolError("unexpected QMP greeting");
        return;
    }
    auto it = message.find("QMP");
    if (!it->is_object()) {
        protocolError("malformed QMP greeting");
        return;
    }
    m_greeting = std::move(*it);
    m_state = State::Negotiating;
    m_capabilitiesId = m_nextId++;
    json negotiate{{"execute", "qmp_capabilities"}, {"id", m_capabilitiesId}};
    m_out += negotiate.dump();
    m_out += '\n';
    updateIoEvents();
}

void Client::handleEvent(json& message) {
    auto name = message.find("event");
    if (!name->is_string()) {
        protocolError("QMP event name is not a string");
        return;
    }
    auto data = message.find("data");
    if (data != message.end() && !data->is_object()) {
        protocolError("QMP event data is not an object");
        return;
    }
    if (!admitEvent(name->get_ref<const std::string&>())) {
        return;
    }
    auto handler = m_onEvent; // keeps it alive should the handler replace itself
    if (!handler || !*handler) {
        return;
    }
    static const json kNoData = json::object();
    (*handler)(name->get_ref<const std::string&>(), data != message.end() ? *data : kNoData);
}

bool Client::admitEvent(const std::string& name) {
    constexpr size_t kTrackedEventNames = 16;
    auto now = std::chrono::steady_clock::now();
    bool droppedBefore = false;
    if (now - m_windowStart >= std::chrono::seconds(1)) {
        if (m_droppedInWindow > 0) {
            log::warning("dropped " + std::to_string(m_droppedInWindow) +
                         " QMP events over the rate limit");
            droppedBefore = true;
        }
        m_windowStart = now;
        m_eventsInWindow.clear();
        m_droppedInWindow = 0;
    }
    auto dropped = m_onDropped; // keeps it alive should the handler replace itself
    std::string bucket =
        m_eventsInWindow.count(name) > 0 || m_eventsInWindow.size() < kTrackedEventNames ? name
                                                                                         : "";
    size_t& count = m_eventsInWindow[bucket];
    if (count < m_limits.maxEventsPerSecond) {
        ++count;
        // The window that just ended lost events: tell the owner once more, after them.
        if (droppedBefore && dropped && *dropped) {
            (*dropped)();
        }
        return true;
    }
    ++m_droppedEvents;
    if (m_droppedInWindow++ == 0) {
        log::warning("QMP event flood: dropping '" + name + "' events beyond " +
                     std::to_string(m_limits.maxEventsPerSecond) + " per second");
        if (dropped && *dropped) {
            (*dropped)();
        }
    }
    return false;
}

void Client::handleReply(json& message) {
    std::optional<Error> failure;
    auto error = message.find("error");
    if (error != message.end()) {
        auto errorClass = error->is_object() ? error->find("class") : error->end();
        auto desc = error->is_object() ? error->find("desc") : error->end();
        if (errorClass == error->end() || desc == error->end() || !errorClass->is_string() ||
            !desc->is_string()) {
            protocolError("malformed QMP error reply");
            return;
        }
        failure = Error(Code::OperationFailed, errorClass->get_ref<const std::string&>() + ": " +
                                                   desc->get_ref<const std::string&>());
    }
    auto idField = message.find("id");
    if (idField == message.end() || !idField->is_number_unsigned()) {
        // QEMU answers input it could not parse without an id; nothing waits for that.
        log::debug("ignoring QMP reply without a usable id");
        return;
    }
    auto id = idField->get<uint64_t>();

    if (m_state == State::Negotiating && id == m_capabilitiesId) {
        if (failure) {
            shutdown(failure->prefix("qmp_capabilities"), Delivery::Now, false);
            return;
        }
        m_state = State::Ready;
        m_handshakeTimer.reset();
        ReadyHandler ready = std::exchange(m_ready, nullptr);
        ready(success());
        return;
    }

    auto it = m_pending.find(id);
    if (it == m_pending.end()) {
        // Most likely the answer to a command that already timed out.
        log::debug("ignoring QMP reply with unknown id " + std::to_string(id));
        return;
    }
    Reply reply = std::move(it->second.reply);
    m_pending.erase(it);
    if (failure) {
        reply(std::move(*failure));
        return;
    }
    auto value = message.find("return");
    reply(std::move(*value));
}

void Client::onCommandTimeout(uint64_t id) {
    auto it = m_pending.find(id);
    if (it == m_pending.end()) {
        return;
    }
    Reply reply = std::move(it->second.reply);
    std::string command = std::move(it->second.command);
    m_pending.erase(it); // drops the timer running this; EventSource allows that
    reply(Error(Code::Timeout, "QMP command '" + command + "' timed out"));
}

void Client::protocolError(std::string message) {
    log::warning("QMP protocol error, closing the monitor connection: " + message);
    shutdown(Error(Code::Internal, std::move(message)), Delivery::Now, true);
}

void Client::shutdown(const Error& why, Delivery delivery, bool notifyClosed) {
    if (m_state == State::Idle || m_state == State::Closed) {
        return;
    }
    bool wasReady = m_state == State::Ready;
    m_state = State::Closed;
    ++m_generation;
    m_io.reset();
    m_handshakeTimer.reset();
    m_retryTimer.reset();
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    // A broken monitor may have filled these to their limits: give the memory back.
    std::string().swap(m_in);
    discardOutput();
    std::string().swap(m_out);
    m_wantWrite = false;

    // Everyone owed an answer is detached from the object first: their callbacks may
    // destroy it, or start a new connection on it.
    std::vector<Reply> replies;
    replies.reserve(m_pending.size());
    for (auto& entry : m_pending) {
        replies.push_back(std::move(entry.second.reply));
    }
    m_pending.clear();
    ReadyHandler ready = std::exchange(m_ready, nullptr);
    std::shared_ptr<ClosedHandler> closed = wasReady && notifyClosed ? m_onClosed : nullptr;

    auto notify = [guard = m_lifetime.guard(), why, replies = std::move(replies),
                   ready = std::move(ready), closed = std::move(closed)] {
        for (const auto& reply : replies) {
            if (!guard.alive()) {
                return;
            }
            reply(why);
        }
        if (ready && guard.alive()) {
            ready(why);
        }
        if (closed && *closed && guard.alive()) {
            (*closed)(why);
        }
    };
    if (delivery == Delivery::Deferred) {
        m_loop.defer(std::move(notify));
    } else {
        notify();
    }
}

} // namespace virtswarm::qmp
