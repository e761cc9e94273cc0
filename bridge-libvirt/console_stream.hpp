// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "client.hpp"
#include "virtswarm/event_loop.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace virtswarm::bridge {

// A guest console as a libvirt stream: bytes from the pty the registry handed over
// (Domain.OpenConsole) become STREAM/CONTINUE messages to the client, the client's STREAM
// data goes to the pty. Reading the pty pauses while the client's output is backed up, so
// a chatty guest cannot fill the bridge's memory; a client that floods the guest is cut off.
class ConsoleStream : public Stream, public std::enable_shared_from_this<ConsoleStream> {
public:
    static constexpr size_t kMaxChunk = 64 * 1024;
    static constexpr size_t kMaxToGuest = 1024 * 1024;

    // Takes ownership of `fd` and registers itself with the client under the call's serial.
    static void attach(EventLoop& loop, const std::shared_ptr<Client>& client, const Header& call,
                       int fd);
    // After a re-exec: the session the previous image handed over (Stream::handOver), with
    // the bytes it had not written to the guest yet.
    static void adopt(EventLoop& loop, const std::shared_ptr<Client>& client, const Header& call,
                      int fd, std::vector<uint8_t> toGuest);
    ~ConsoleStream() override;

    void onClientMessage(const Header& header, std::span<const uint8_t> payload) override;
    void onClientWritable() override;
    // A live session goes on in the next image; one whose guest is gone ends here.
    bool canHandOver() const override { return !m_done && m_fd >= 0; }
    std::optional<Handed> handOver(int parkingFd) override;

private:
    ConsoleStream(EventLoop& loop, std::weak_ptr<Client> client, const Header& call, int fd);
    void start();
    void onIo(uint32_t revents);
    void readGuest();
    void writeGuest();
    void updateEvents();
    void send(uint32_t status, std::span<const uint8_t> payload);
    // The pty closed (QEMU exited): end of stream for the client. The stream stays
    // registered until the client finishes or aborts it, which is confirmed.
    void guestGone();
    void closeGuest();

    EventLoop& m_loop;
    std::weak_ptr<Client> m_client;
    Header m_call;
    int m_fd;
    EventSource m_io;
    std::vector<uint8_t> m_toGuest;
    bool m_done = false;
};

} // namespace virtswarm::bridge
