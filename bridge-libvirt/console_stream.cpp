// SPDX-License-Identifier: LGPL-2.1-or-later
#include "console_stream.hpp"

#include "rpc_error.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::bridge {

void ConsoleStream::attach(EventLoop& loop, const std::shared_ptr<Client>& client,
                           const Header& call, int fd) {
    std::shared_ptr<ConsoleStream> stream(new ConsoleStream(loop, client, call, fd));
    client->streams()[call.serial] = stream;
    stream->start();
}

void ConsoleStream::adopt(EventLoop& loop, const std::shared_ptr<Client>& client,
                          const Header& call, int fd, std::vector<uint8_t> toGuest) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    std::shared_ptr<ConsoleStream> stream(new ConsoleStream(loop, client, call, fd));
    stream->m_toGuest = std::move(toGuest);
    client->streams()[call.serial] = stream;
    stream->start();
    stream->updateEvents();
}

std::optional<Stream::Handed> ConsoleStream::handOver(int parkingFd) {
    if (!canHandOver()) {
        return std::nullopt;
    }
    int parked = ::fcntl(m_fd, F_DUPFD, parkingFd); // not close-on-exec
    if (parked < 0) {
        return std::nullopt;
    }
    m_io.reset();
    ::close(m_fd);
    m_fd = -1;
    m_done = true;
    return Handed{"console", m_call.procedure, parked, std::move(m_toGuest)};
}

ConsoleStream::ConsoleStream(EventLoop& loop, std::weak_ptr<Client> client, const Header& call,
                             int fd)
    : m_loop(loop)
    , m_client(std::move(client))
    , m_call(call)
    , m_fd(fd) {}

ConsoleStream::~ConsoleStream() {
    m_io.reset();
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

void ConsoleStream::start() {
    ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
    std::weak_ptr<ConsoleStream> weak = weak_from_this();
    m_io = m_loop.addIo(m_fd, EPOLLIN, [weak](uint32_t revents) {
        if (auto self = weak.lock()) {
            self->onIo(revents);
        }
    });
    if (!m_io) {
        guestGone();
    }
}

void ConsoleStream::send(uint32_t status, std::span<const uint8_t> payload) {
    sendStreamMessage(m_client, m_call, status, payload);
}

void ConsoleStream::onIo(uint32_t revents) {
    auto self = shared_from_this(); // a finished stream leaves the client map meanwhile
    if ((revents & EPOLLOUT) != 0) {
        writeGuest();
    }
    if (!m_done && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        readGuest();
    }
    updateEvents();
}

void ConsoleStream::readGuest() {
    uint8_t buf[kMaxChunk];
    while (!m_done) {
        auto client = m_client.lock();
        if (!client || !client->wantsStreamData()) {
            return; // resumed by onClientWritable()
        }
        ssize_t n = ::read(m_fd, buf, sizeof buf);
        if (n > 0) {
            send(static_cast<uint32_t>(proto::MessageStatus::Continue),
                 std::span<const uint8_t>(buf, static_cast<size_t>(n)));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            // EOF, or EIO once the guest side of the pty is gone (QEMU exited).
            guestGone();
            return;
        }
    }
}

void ConsoleStream::writeGuest() {
    while (!m_done && !m_toGuest.empty()) {
        ssize_t n = ::write(m_fd, m_toGuest.data(), m_toGuest.size());
        if (n > 0) {
            m_toGuest.erase(m_toGuest.begin(), m_toGuest.begin() + n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            guestGone();
            return;
        }
    }
}

void ConsoleStream::updateEvents() {
    if (m_done || !m_io) {
        return;
    }
    auto client = m_client.lock();
    uint32_t events = 0;
    if (client && client->wantsStreamData()) {
        events |= EPOLLIN;
    }
    if (!m_toGuest.empty()) {
        events |= EPOLLOUT;
    }
    sd_event_source_set_io_events(m_io.raw(), events);
    sd_event_source_set_enabled(m_io.raw(), events != 0 ? SD_EVENT_ON : SD_EVENT_OFF);
}

void ConsoleStream::onClientWritable() {
    auto self = shared_from_this();
    readGuest();
    updateEvents();
}

void ConsoleStream::onClientMessage(const Header& header, std::span<const uint8_t> payload) {
    auto self = shared_from_this();
    bool data = header.status == static_cast<uint32_t>(proto::MessageStatus::Continue);
    if (!data) {
        // Finish (OK) or abort (ERROR): confirm with an empty OK, as libvirtd does, also
        // after our own end of stream; only then is the stream forgotten.
        send(static_cast<uint32_t>(proto::MessageStatus::Ok), {});
        closeGuest();
        if (auto client = m_client.lock()) {
            client->streams().erase(m_call.serial);
        }
        return;
    }
    if (m_done) {
        return; // the guest side is gone; the client will learn from our end of stream
    }
    {
        if (m_toGuest.size() + payload.size() > kMaxToGuest) {
            log::warning("console stream of " + std::to_string(header.serial) +
                         ": the guest does not read its input; aborting");
            xdr::Writer w;
            writeError(w, toRpcError(Error(Code::OperationFailed,
                                           "the guest console does not accept input")));
            send(static_cast<uint32_t>(proto::MessageStatus::Error), w.bytes());
            closeGuest();
            return;
        }
        m_toGuest.insert(m_toGuest.end(), payload.begin(), payload.end());
        writeGuest();
        updateEvents();
    }
}

void ConsoleStream::guestGone() {
    if (m_done) {
        return;
    }
    // End of stream is CONTINUE with no data; an empty OK would be the confirmation of a
    // finish, which the client did not ask for and treats as a protocol error.
    send(static_cast<uint32_t>(proto::MessageStatus::Continue), {});
    closeGuest();
}

void ConsoleStream::closeGuest() {
    m_done = true;
    m_toGuest.clear();
    m_io.reset();
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
}

} // namespace virtswarm::bridge
