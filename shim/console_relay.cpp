// SPDX-License-Identifier: LGPL-2.1-or-later
#include "console_relay.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::shim {

Result<std::pair<std::unique_ptr<ConsoleRelay>, int>>
ConsoleRelay::open(EventLoop& loop, const std::string& ptyPath) {
    int pty = ::open(ptyPath.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (pty < 0) {
        return Error(Code::OperationFailed, "cannot open " + ptyPath + ": " + std::strerror(errno));
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        int saved = errno;
        ::close(pty);
        return Error(Code::OperationFailed,
                     std::string("cannot create a console socket pair: ") + std::strerror(saved));
    }
    ::fcntl(pair[0], F_SETFL, ::fcntl(pair[0], F_GETFL) | O_NONBLOCK);
    std::unique_ptr<ConsoleRelay> relay(new ConsoleRelay(loop, pty, pair[0]));
    if (auto r = relay->start(); !r) {
        ::close(pair[1]);
        return r.takeError();
    }
    return std::make_pair(std::move(relay), pair[1]);
}

ConsoleRelay::ConsoleRelay(EventLoop& loop, int pty, int client)
    : m_loop(loop)
    , m_pty(pty)
    , m_client(client) {}

ConsoleRelay::~ConsoleRelay() {
    end();
}

bool ConsoleRelay::active() {
    if (m_client >= 0) {
        pollfd p{m_client, 0, 0}; // POLLHUP and POLLERR are always reported
        if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0) {
            end();
        }
    }
    return m_pty >= 0;
}

Result<void> ConsoleRelay::start() {
    m_ptyIo = m_loop.addIo(m_pty, EPOLLIN, [this](uint32_t) { onIo(); });
    m_clientIo = m_loop.addIo(m_client, EPOLLIN, [this](uint32_t) { onIo(); });
    if (!m_ptyIo || !m_clientIo) {
        end();
        return Error(Code::Internal, "cannot watch the console descriptors");
    }
    return success();
}

bool ConsoleRelay::fill(int from, std::vector<uint8_t>& buffer) {
    uint8_t chunk[4096];
    while (buffer.size() < kMaxBuffered) {
        size_t room = std::min(sizeof chunk, kMaxBuffered - buffer.size());
        ssize_t n = ::read(from, chunk, room);
        if (n > 0) {
            buffer.insert(buffer.end(), chunk, chunk + n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            return false; // end of file, or EIO once QEMU closed the pty's other side
        }
    }
    return true;
}

bool ConsoleRelay::drain(int to, std::vector<uint8_t>& buffer) {
    size_t done = 0;
    while (done < buffer.size()) {
        // MSG_NOSIGNAL: a client gone meanwhile is an error here, not a SIGPIPE.
        ssize_t n = to == m_client
                        ? ::send(to, buffer.data() + done, buffer.size() - done, MSG_NOSIGNAL)
                        : ::write(to, buffer.data() + done, buffer.size() - done);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return false;
        }
    }
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(done));
    return true;
}

void ConsoleRelay::onIo() {
    // Both directions on any wake-up: cheap (non-blocking), and no readiness is lost
    // between the two event sources.
    bool alive = fill(m_pty, m_toClient) && drain(m_client, m_toClient) &&
                 fill(m_client, m_toGuest) && drain(m_pty, m_toGuest);
    if (!alive) {
        end();
        return;
    }
    updateEvents();
}

void ConsoleRelay::updateEvents() {
    constexpr uint32_t kIn = EPOLLIN;
    constexpr uint32_t kOut = EPOLLOUT;
    uint32_t ptyEvents =
        (m_toClient.size() < kMaxBuffered ? kIn : 0U) | (m_toGuest.empty() ? 0U : kOut);
    uint32_t clientEvents =
        (m_toGuest.size() < kMaxBuffered ? kIn : 0U) | (m_toClient.empty() ? 0U : kOut);
    sd_event_source_set_io_events(m_ptyIo.raw(), ptyEvents);
    sd_event_source_set_io_events(m_clientIo.raw(), clientEvents);
}

void ConsoleRelay::end() {
    // Dropping a source from inside its own callback is safe (EventSource).
    m_ptyIo.reset();
    m_clientIo.reset();
    if (m_client >= 0) {
        ::close(m_client); // the client reads end of file: its stream ends
        m_client = -1;
    }
    if (m_pty >= 0) {
        ::close(m_pty);
        m_pty = -1;
    }
    m_toClient.clear();
    m_toGuest.clear();
}

} // namespace virtswarm::shim
