// SPDX-License-Identifier: LGPL-2.1-or-later
#include "client.hpp"

#include "virtswarm/fd_passing.hpp"
#include "virtswarm/log.hpp"
#include "xdr.hpp"

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Bytes read per wake-up, so one chatty client cannot starve the others.
constexpr size_t kReadBudget = 1024 * 1024;

} // namespace

Client::Client(EventLoop& loop, int fd, uint64_t id, bool readOnlySocket, PeerIdentity peer,
               ClientLimits limits, InputBudgets& budgets, Sink& sink)
    : m_loop(loop)
    , m_fd(fd)
    , m_id(id)
    , m_readOnlySocket(readOnlySocket)
    , m_peer(peer)
    , m_limits(limits)
    , m_budgets(budgets)
    , m_sink(sink) {
    m_parser.setMaxLength(m_limits.preOpenMessageMax);
}

Client::~Client() {
    m_io.reset();
    m_resume.reset();
    m_openDeadline.reset();
    m_budgets.bytes.release(m_peer.owner(), m_claimed);
    m_budgets.fds.release(m_peer.owner(), m_inFds.size());
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

std::string Client::describe() const {
    std::string s = "client " + std::to_string(m_id);
    if (m_peer.known) {
        s += " (pid " + std::to_string(m_peer.pid) + ", uid " + std::to_string(m_peer.uid) + ")";
    }
    return s;
}

void Client::start() {
    std::weak_ptr<Client> weak = weak_from_this();
    m_io = m_loop.addIo(m_fd, EPOLLIN, [weak](uint32_t revents) {
        if (auto self = weak.lock()) {
            self->onIo(revents);
        }
    });
    if (!m_io) {
        close("cannot watch the socket");
        return;
    }
    if (m_limits.openTimeout.count() > 0) {
        m_openDeadline = m_loop.addTimer(m_limits.openTimeout, [weak] {
            if (auto self = weak.lock()) {
                self->onOpenTimeout();
            }
        });
    }
}

void Client::open(std::string uri, bool readOnly) {
    m_opened = true;
    m_uri = std::move(uri);
    m_readOnly = readOnly || m_readOnlySocket;
    m_openDeadline.reset();
    m_parser.setMaxLength(proto::kMaxMessageLength);
}

void Client::onOpenTimeout() {
    m_openDeadline.reset();
    if (!m_opened) {
        log::info(describe() + " did not open the connection in time; closing");
        close("open timeout");
    }
}

bool Client::claimInput() {
    size_t wanted = m_parser.claim();
    if (wanted < m_claimed) {
        m_budgets.bytes.release(m_peer.owner(), m_claimed - wanted);
        m_claimed = wanted;
        return true;
    }
    if (wanted > m_claimed) {
        if (!m_budgets.bytes.claim(m_peer.owner(), wanted - m_claimed)) {
            log::warning(describe() + ": a message of " + std::to_string(wanted) +
                         " bytes exceeds the input budget of its user or of the server; "
                         "closing");
            close("input budget exceeded");
            return false;
        }
        m_claimed = wanted;
    }
    m_parser.reserveFrame();
    return true;
}

void Client::onIo(uint32_t revents) {
    auto self = shared_from_this(); // the sink may drop its reference while we run
    if ((revents & EPOLLOUT) != 0) {
        flush();
    }
    if (!closed() && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        readAvailable();
    }
    processFrames();
    if (!closed() && m_eof) {
        // Complete calls that arrived before the hang-up were dispatched above; their
        // replies have nowhere to go.
        close("disconnected");
        return;
    }
    updateIoEvents();
}

void Client::readAvailable() {
    uint8_t buf[kReadChunk];
    size_t total = 0;
    while (!closed() && !m_eof && total < kReadBudget && !m_parser.frameReady()) {
        size_t n = 0;
        if (!receive(buf, n)) {
            break;
        }
        if (n == 0) {
            m_eof = true;
            break;
        }
        m_parser.feed(std::span<const uint8_t>(buf, n));
        total += n;
        if (!claimInput()) {
            return;
        }
    }
}

// recvmsg, never recv: a descriptor read past without a control buffer would be closed by
// the kernel, and a *_WITH_FDS call would lose it. The kernel ends a read at the byte that
// carries descriptors, so they arrive in the order their messages announce them. False when
// nothing more can be read now (or the client was closed); received 0 is end of file.
bool Client::receive(std::span<uint8_t> buffer, size_t& received) {
    ReceivedFds fds;
    ssize_t n = recvWithFds(m_fd, buffer.data(), buffer.size(), proto::kMaxFdsPerMessage,
                            MSG_DONTWAIT, fds);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            close(std::string("read failed: ") + std::strerror(errno));
        }
        return false;
    }
    bool affordable = m_budgets.fds.claim(m_peer.owner(), fds.fds.size());
    for (int fd : fds.fds) {
        m_inFds.emplace_back(fd, sdbus::adopt_fd);
    }
    if (!affordable) {
        m_budgets.fds.release(m_peer.owner(), m_inFds.size() - fds.fds.size());
        m_inFds.clear();
        log::warning(describe() + " holds more file descriptors than its user or the server "
                                  "may; closing");
        close("descriptor budget exceeded");
        return false;
    }
    // Descriptors no message claims are a resource the client holds here: at most what
    // one message may carry, beyond the one being read.
    if (fds.truncated || m_inFds.size() > 2 * proto::kMaxFdsPerMessage) {
        log::warning(describe() + " sent file descriptors no message announced; closing");
        close("unannounced file descriptors");
        return false;
    }
    received = static_cast<size_t>(n);
    return true;
}

bool Client::acceptingCalls() const {
    return !closed() && m_pending < m_limits.maxPendingCalls &&
           m_outBytes < m_limits.outputHighWater;
}

void Client::processFrames() {
    while (acceptingCalls()) {
        auto next = m_parser.next();
        if (!next) {
            log::warning(describe() + ": " + next.error().message() + "; closing");
            close("protocol error");
            return;
        }
        if (!next.value()) {
            return;
        }
        if (!claimInput()) {
            return;
        }
        Frame& frame = *next.value();
        if (m_inFds.size() < frame.fdCount) {
            log::warning(describe() + ": a message announced " + std::to_string(frame.fdCount) +
                         " file descriptors that did not come; closing");
            close("missing file descriptors");
            return;
        }
        for (uint32_t i = 0; i < frame.fdCount; ++i) {
            frame.fds.push_back(std::move(m_inFds.front()));
            m_inFds.pop_front();
        }
        m_budgets.fds.release(m_peer.owner(), frame.fdCount);
        m_sink.onFrame(shared_from_this(), std::move(frame));
    }
}

void Client::updateIoEvents() {
    if (closed()) {
        return;
    }
    uint32_t events = 0;
    // Read only when there is room for new calls and nothing complete is waiting.
    if (!m_eof && acceptingCalls() && !m_parser.frameReady()) {
        events |= EPOLLIN;
    }
    if (!m_out.empty()) {
        events |= EPOLLOUT;
    }
    sd_event_source_set_io_events(m_io.raw(), events);
    sd_event_source_set_enabled(m_io.raw(), events != 0 ? SD_EVENT_ON : SD_EVENT_OFF);
}

void Client::scheduleResume() {
    if (m_resume || closed()) {
        return;
    }
    std::weak_ptr<Client> weak = weak_from_this();
    // Later, not now: callFinished() may run inside processFrames() itself. A timer we own
    // rather than EventLoop::defer(), so nothing outlives this client or the loop.
    m_resume = m_loop.addTimer(std::chrono::microseconds(0), [weak] {
        if (auto self = weak.lock()) {
            self->m_resume.reset();
            self->processFrames();
            if (!self->closed() && self->m_eof) {
                self->close("disconnected");
                return;
            }
            self->updateIoEvents();
        }
    });
}

void Client::callFinished() {
    if (m_pending > 0) {
        --m_pending;
    }
    scheduleResume();
}

void Client::sendReply(const Header& call, std::span<const uint8_t> payload) {
    if (payload.size() > proto::kPayloadMax) {
        RpcError e;
        e.code = proto::err::kRpc;
        e.domain = proto::err::kFromRpc;
        e.message = "reply of " + std::to_string(payload.size()) + " bytes exceeds the limit";
        sendError(call, e);
        return;
    }
    queue(encodeMessage(replyHeader(call, proto::MessageStatus::Ok), payload));
}

void Client::sendReplyWithFds(const Header& call, std::span<const uint8_t> payload,
                              std::vector<sdbus::UnixFd> fds) {
    xdr::Writer w;
    w.u32(static_cast<uint32_t>(fds.size()));
    std::vector<uint8_t> body = w.take();
    body.insert(body.end(), payload.begin(), payload.end());
    Header h = replyHeader(call, proto::MessageStatus::Ok);
    h.type = static_cast<uint32_t>(proto::MessageType::ReplyWithFds);
    queue(encodeMessage(h, body), std::move(fds));
}

void Client::sendError(const Header& call, const RpcError& error) {
    xdr::Writer w;
    writeError(w, error);
    queue(encodeMessage(replyHeader(call, proto::MessageStatus::Error), w.bytes()));
}

void Client::sendMessage(const Header& header, std::span<const uint8_t> payload) {
    if (closed()) {
        return;
    }
    if (m_outBytes > m_limits.eventOutputLimit) {
        log::warning(describe() + " does not read its events; closing");
        close("output limit");
        return;
    }
    queue(encodeMessage(header, payload));
}

void Client::queue(std::vector<uint8_t> bytes, std::vector<sdbus::UnixFd> fds) {
    if (closed()) {
        return;
    }
    m_outBytes += bytes.size();
    m_out.push_back(Outgoing{std::move(bytes), std::move(fds)});
    flush();
    updateIoEvents();
}

void Client::flush() {
    bool wasThrottled = m_outBytes >= m_limits.outputHighWater;
    while (!closed() && !m_out.empty()) {
        const auto& front = m_out.front();
        if (m_outOffset == front.bytes.size()) {
            if (m_outFdsSent < front.fds.size()) {
                if (!sendFd(front.fds[m_outFdsSent])) {
                    break;
                }
                ++m_outFdsSent;
                continue;
            }
            m_out.pop_front(); // closes our copies of the descriptors
            m_outOffset = 0;
            m_outFdsSent = 0;
            continue;
        }
        ssize_t n = ::send(m_fd, front.bytes.data() + m_outOffset, front.bytes.size() - m_outOffset,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            close(std::string("write failed: ") + std::strerror(errno));
            return;
        }
        m_outOffset += static_cast<size_t>(n);
        m_outBytes -= static_cast<size_t>(n);
    }
    if (wasThrottled && m_outBytes < m_limits.outputHighWater) {
        scheduleResume();
        // Copied: a stream may end (and leave the map) while it sends.
        auto streams = m_streams;
        for (auto& [serial, stream] : streams) {
            stream->onClientWritable();
        }
    }
}

// One descriptor on one byte, as libvirt's client reads them (virSocketRecvFD). False
// when the socket is full (try again later) or the client was closed.
bool Client::sendFd(const sdbus::UnixFd& fd) {
    char byte = 0;
    ssize_t n = sendWithFd(m_fd, &byte, 1, fd.get(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 1) {
        return true;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        close(std::string("passing a file descriptor failed: ") + std::strerror(errno));
    }
    return false;
}

void Client::close(const std::string& why) {
    if (closed()) {
        return;
    }
    log::debug(describe() + " closed: " + why);
    m_io.reset();
    m_resume.reset();
    m_openDeadline.reset();
    m_budgets.bytes.release(m_peer.owner(), m_claimed);
    m_claimed = 0;
    m_budgets.fds.release(m_peer.owner(), m_inFds.size());
    m_parser = FrameParser(); // its memory, now: Calls may keep this object a while
    ::close(m_fd);
    m_fd = -1;
    m_out.clear();
    m_outOffset = 0;
    m_outFdsSent = 0;
    m_outBytes = 0;
    m_inFds.clear();
    m_events.clear();
    // Streams go last and outside the map: their destructors close what they hold.
    auto streams = std::move(m_streams);
    m_streams.clear();
    streams.clear();
    m_sink.onClosed(*this);
}

void sendStreamMessage(const std::weak_ptr<Client>& client, const Header& call, uint32_t status,
                       std::span<const uint8_t> payload) {
    if (auto c = client.lock()) {
        Header h = call;
        h.type = static_cast<uint32_t>(proto::MessageType::Stream);
        h.status = status;
        c->sendMessage(h, payload);
    }
}

void sendStreamHole(const std::weak_ptr<Client>& client, const Header& call, uint64_t length) {
    if (auto c = client.lock()) {
        Header h = call;
        h.type = static_cast<uint32_t>(proto::MessageType::StreamHole);
        h.status = static_cast<uint32_t>(proto::MessageStatus::Continue);
        // virNetStreamHole: hyper length, unsigned int flags.
        xdr::Writer w;
        w.i64(static_cast<int64_t>(length));
        w.u32(0);
        c->sendMessage(h, w.bytes());
    }
}

} // namespace virtswarm::bridge
