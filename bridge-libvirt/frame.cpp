// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frame.hpp"

#include "xdr.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

// Buffer kept by an idle connection: two read chunks.
constexpr size_t kKeptCapacity = 128 * 1024;

// The 24-byte header, from a reader at its start.
Header readHeader(xdr::Reader& r) {
    Header h;
    h.program = r.u32();
    h.version = r.u32();
    h.procedure = r.i32();
    h.type = r.u32();
    h.serial = r.u32();
    h.status = r.u32();
    return h;
}

} // namespace

std::vector<uint8_t> encodeMessage(const Header& header, std::span<const uint8_t> payload) {
    xdr::Writer w;
    w.u32(static_cast<uint32_t>(proto::kMinMessageLength + payload.size()));
    w.u32(header.program);
    w.u32(header.version);
    w.i32(header.procedure);
    w.u32(header.type);
    w.u32(header.serial);
    w.u32(header.status);
    std::vector<uint8_t> out = w.take();
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

Header replyHeader(const Header& call, proto::MessageStatus status) {
    Header h = call;
    h.type = static_cast<uint32_t>(proto::MessageType::Reply);
    h.status = static_cast<uint32_t>(status);
    return h;
}

Result<void> checkMessageLength(uint32_t length, uint32_t maxLength) {
    if (length < proto::kMinMessageLength) {
        return Error(Code::InvalidArgs,
                     "message length " + std::to_string(length) + " is shorter than a header");
    }
    if (length > maxLength) {
        return Error(Code::InvalidArgs, "message length " + std::to_string(length) +
                                            " exceeds the limit of " + std::to_string(maxLength));
    }
    return success();
}

void FrameParser::feed(std::span<const uint8_t> bytes) {
    compact();
    m_buf.insert(m_buf.end(), bytes.begin(), bytes.end());
}

void FrameParser::compact() {
    // Drop the consumed prefix once it is the larger part, so a long-lived connection
    // neither grows without bound nor memmoves on every frame.
    if (m_start > 0 && m_start >= m_buf.size() / 2) {
        m_buf.erase(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(m_start));
        m_start = 0;
    }
}

std::optional<uint32_t> FrameParser::peekLength() const {
    if (buffered() < proto::kLengthSize) {
        return std::nullopt;
    }
    const uint8_t* p = m_buf.data() + m_start;
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool FrameParser::frameReady() const {
    auto length = peekLength();
    if (!length) {
        return false;
    }
    if (!checkMessageLength(*length, m_maxLength)) {
        return true;
    }
    if (buffered() < *length) {
        return false;
    }
    auto fds = frontFdCount(*length);
    return !fds || buffered() >= size_t{*length} + fds.value();
}

Result<uint32_t> FrameParser::frontFdCount(uint32_t length) const {
    xdr::Reader r(std::span<const uint8_t>(m_buf.data() + m_start, length));
    r.u32(); // length
    if (!readHeader(r).carriesFds()) {
        return uint32_t{0};
    }
    uint32_t count = r.u32();
    if (!r.ok()) {
        return Error(Code::InvalidArgs, "a message with file descriptors has no descriptor count");
    }
    if (count > proto::kMaxFdsPerMessage) {
        return Error(Code::InvalidArgs, "a message announces " + std::to_string(count) +
                                            " file descriptors; at most " +
                                            std::to_string(proto::kMaxFdsPerMessage) +
                                            " are allowed");
    }
    return count;
}

size_t FrameParser::claim() const {
    auto length = peekLength();
    if (!length || !checkMessageLength(*length, m_maxLength)) {
        return buffered();
    }
    return std::max<size_t>(buffered(), *length);
}

void FrameParser::reserveFrame() {
    size_t wanted = claim();
    if (buffered() >= wanted || m_buf.capacity() - m_start >= wanted) {
        return;
    }
    m_buf.erase(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(m_start));
    m_start = 0;
    m_buf.reserve(wanted);
}

Result<std::optional<Frame>> FrameParser::next() {
    auto length = peekLength();
    if (!length) {
        return std::optional<Frame>();
    }
    if (auto r = checkMessageLength(*length, m_maxLength); !r) {
        return r.takeError();
    }
    if (buffered() < *length) {
        return std::optional<Frame>();
    }
    auto fdCount = frontFdCount(*length);
    if (!fdCount) {
        return fdCount.takeError();
    }
    if (buffered() < size_t{*length} + fdCount.value()) {
        return std::optional<Frame>(); // the bytes carrying the descriptors
    }
    std::span<const uint8_t> message(m_buf.data() + m_start + proto::kLengthSize,
                                     *length - proto::kLengthSize);
    xdr::Reader r(message.first(proto::kHeaderSize));
    Frame frame;
    frame.header = readHeader(r);
    frame.fdCount = fdCount.value();
    auto payload = message.subspan(proto::kHeaderSize + (frame.header.carriesFds() ? 4 : 0));
    frame.payload.assign(payload.begin(), payload.end());
    m_start += *length + fdCount.value();
    if (m_start == m_buf.size()) {
        // Nothing left: give back what a large frame took, so an idle connection costs
        // little whatever it sent before.
        if (m_buf.capacity() > kKeptCapacity) {
            std::vector<uint8_t>().swap(m_buf);
        }
        m_buf.clear();
        m_start = 0;
    }
    return std::optional<Frame>(std::move(frame));
}

} // namespace virtswarm::bridge
