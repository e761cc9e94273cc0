// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace virtswarm::shim {

// One console session: the shim keeps the pty of a serial port and relays it to its end
// of a socket pair; the client gets the other end. Because the shim stays in the middle
// it knows when the client has gone (end of file on its end) and can end a session the
// client still holds (FORCE): closing its end is the client's end of stream. A pty fd
// handed out directly could be neither watched nor taken back.
class ConsoleRelay {
public:
    // Opens `ptyPath` and returns the relay with the client's end of the socket pair
    // (the caller owns that fd).
    static Result<std::pair<std::unique_ptr<ConsoleRelay>, int>> open(EventLoop& loop,
                                                                      const std::string& ptyPath);
    ~ConsoleRelay();
    ConsoleRelay(const ConsoleRelay&) = delete;
    ConsoleRelay& operator=(const ConsoleRelay&) = delete;

    // Whether the session still holds the console: not once the client closed its end
    // (checked now, not only when the loop gets to it, so a client that closes and at
    // once opens again is not refused) or the pty went away (QEMU exited).
    bool active();

private:
    ConsoleRelay(EventLoop& loop, int pty, int client);
    Result<void> start();
    // Moves what is readable from `from` into `buffer`, at most up to kMaxBuffered.
    bool fill(int from, std::vector<uint8_t>& buffer);
    // Writes what it can of `buffer` to `to`.
    bool drain(int to, std::vector<uint8_t>& buffer);
    void onIo();
    void updateEvents();
    void end();

    // Enough for a burst of boot output; beyond it the reading side waits (back pressure
    // instead of unbounded memory).
    static constexpr size_t kMaxBuffered = 64 * 1024;

    EventLoop& m_loop;
    int m_pty = -1;
    int m_client = -1; // the shim's end of the socket pair
    std::vector<uint8_t> m_toClient;
    std::vector<uint8_t> m_toGuest;
    EventSource m_ptyIo;
    EventSource m_clientIo;
};

} // namespace virtswarm::shim
