// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "protocol.hpp"
#include "virtswarm/result.hpp"

#include <cstdint>
#include <optional>
#include <sdbus-c++/Types.h>
#include <span>
#include <vector>

// Message framing of the libvirt RPC stream: a big-endian length word that counts itself,
// a 24-byte header and the XDR payload.
namespace virtswarm::bridge {

struct Header {
    uint32_t program = proto::kRemoteProgram;
    uint32_t version = proto::kProtocolVersion;
    int32_t procedure = 0;
    uint32_t type = 0; // proto::MessageType, kept raw: a client may send anything
    uint32_t serial = 0;
    uint32_t status = 0; // proto::MessageStatus

    bool is(proto::MessageType t) const { return type == static_cast<uint32_t>(t); }
    bool carriesFds() const {
        return is(proto::MessageType::CallWithFds) || is(proto::MessageType::ReplyWithFds);
    }
};

struct Frame {
    Header header;
    // Of a *_WITH_FDS message: without the descriptor count, which is fdCount.
    std::vector<uint8_t> payload;
    uint32_t fdCount = 0;
    // The descriptors themselves, which came beside the byte stream (Client fills them in).
    std::vector<sdbus::UnixFd> fds;
};

// Header and payload as one message, length word included. The caller keeps the payload
// within proto::kPayloadMax (Client::send replaces larger replies with an error).
std::vector<uint8_t> encodeMessage(const Header& header, std::span<const uint8_t> payload);

// The header of a reply to `call` (same program, version, procedure and serial).
Header replyHeader(const Header& call, proto::MessageStatus status);

// Splits a byte stream into frames, whatever the read boundaries. A length outside
// [28, maxLength] (16 MiB + 4 unless lowered) is fatal for the connection: the stream
// cannot be resynchronised, and libvirtd closes such a client as well. So is a *_WITH_FDS
// message announcing more than proto::kMaxFdsPerMessage descriptors. Such a message is
// complete with the one byte per descriptor that follows it, which the parser consumes.
class FrameParser {
public:
    void feed(std::span<const uint8_t> bytes);

    // The largest message accepted from now on (a client that has not opened yet gets a
    // smaller one than proto::kMaxMessageLength).
    void setMaxLength(uint32_t maxLength) { m_maxLength = maxLength; }

    // The memory the frame in progress needs: its announced length once that is known
    // and valid, or what is buffered. Callers budget this before reserveFrame().
    size_t claim() const;
    // Allocates the frame in progress at once, so a large frame costs its length and not
    // a doubling vector's growth.
    void reserveFrame();

    // The next complete frame, nullopt if more bytes are needed, or an error (fatal).
    Result<std::optional<Frame>> next();

    // True when a complete frame (or a fatal error) is waiting: no need to read more yet.
    bool frameReady() const;
    size_t buffered() const { return m_buf.size() - m_start; }
    // The bytes received and not yet taken as frames (a re-exec hands them on).
    std::span<const uint8_t> unconsumed() const {
        return {m_buf.data() + m_start, m_buf.size() - m_start};
    }

private:
    std::optional<uint32_t> peekLength() const;
    // The descriptors the complete message of `length` at the front announces (0 unless
    // it is a *_WITH_FDS message).
    Result<uint32_t> frontFdCount(uint32_t length) const;
    void compact();

    std::vector<uint8_t> m_buf;
    size_t m_start = 0; // consumed prefix of m_buf
    uint32_t m_maxLength = proto::kMaxMessageLength;
};

// Validates a length word (see FrameParser).
Result<void> checkMessageLength(uint32_t length, uint32_t maxLength = proto::kMaxMessageLength);

} // namespace virtswarm::bridge
