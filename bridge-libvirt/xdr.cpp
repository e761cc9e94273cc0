// SPDX-License-Identifier: LGPL-2.1-or-later
#include "xdr.hpp"

#include <bit>
#include <cstring>

namespace virtswarm::bridge::xdr {

bool Reader::need(size_t n, const char* what) {
    if (!ok()) {
        return false;
    }
    if (remaining() < n) {
        fail(std::string("truncated payload: ") + what + " needs " + std::to_string(n) +
             " bytes at offset " + std::to_string(m_offset) + ", " + std::to_string(remaining()) +
             " left");
        return false;
    }
    return true;
}

void Reader::fail(std::string message) {
    if (ok()) {
        m_error = std::move(message);
    }
}

Result<void> Reader::finish() const {
    if (!ok()) {
        return Error(Code::InvalidArgs, m_error);
    }
    if (remaining() != 0) {
        return Error(Code::InvalidArgs, std::to_string(remaining()) +
                                            " unexpected trailing bytes at offset " +
                                            std::to_string(m_offset));
    }
    return success();
}

uint32_t Reader::u32() {
    if (!need(4, "unsigned int")) {
        return 0;
    }
    const uint8_t* p = m_data.data() + m_offset;
    m_offset += 4;
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

int32_t Reader::i32() {
    return static_cast<int32_t>(u32());
}

uint64_t Reader::u64() {
    if (!need(8, "hyper")) {
        return 0;
    }
    uint64_t hi = u32();
    uint64_t lo = u32();
    return (hi << 32) | lo;
}

int64_t Reader::i64() {
    return static_cast<int64_t>(u64());
}

double Reader::f64() {
    return std::bit_cast<double>(u64());
}

bool Reader::boolean() {
    uint32_t v = u32();
    if (v > 1) {
        fail("boolean out of range at offset " + std::to_string(m_offset - 4));
        return false;
    }
    return v == 1;
}

void Reader::skipPadding(size_t n) {
    // rpcgen does not check that padding bytes are zero; neither do we.
    m_offset += padded(n) - n;
}

std::string Reader::string(uint32_t max) {
    size_t at = m_offset;
    uint32_t len = u32();
    if (!ok()) {
        return {};
    }
    if (len > max) {
        fail("string of " + std::to_string(len) + " bytes at offset " + std::to_string(at) +
             " exceeds the limit of " + std::to_string(max));
        return {};
    }
    if (!need(padded(len), "string")) {
        return {};
    }
    std::string out(reinterpret_cast<const char*>(m_data.data() + m_offset), len);
    if (out.find('\0') != std::string::npos) {
        fail("string at offset " + std::to_string(at) + " contains a NUL byte");
        return {};
    }
    m_offset += len;
    skipPadding(len);
    return out;
}

bool Reader::present() {
    size_t at = m_offset;
    uint32_t v = u32();
    if (v > 1) {
        fail("optional discriminant " + std::to_string(v) + " at offset " + std::to_string(at));
        return false;
    }
    return v == 1;
}

std::optional<std::string> Reader::optionalString(uint32_t max) {
    if (!present()) {
        return std::nullopt;
    }
    std::string s = string(max);
    if (!ok()) {
        return std::nullopt;
    }
    return s;
}

void Reader::fixedOpaque(std::span<uint8_t> out) {
    if (!need(padded(out.size()), "fixed opaque")) {
        std::memset(out.data(), 0, out.size());
        return;
    }
    std::memcpy(out.data(), m_data.data() + m_offset, out.size());
    m_offset += out.size();
    skipPadding(out.size());
}

std::vector<uint8_t> Reader::opaque(uint32_t max) {
    size_t at = m_offset;
    uint32_t len = u32();
    if (!ok()) {
        return {};
    }
    if (len > max) {
        fail("opaque of " + std::to_string(len) + " bytes at offset " + std::to_string(at) +
             " exceeds the limit of " + std::to_string(max));
        return {};
    }
    if (!need(padded(len), "opaque")) {
        return {};
    }
    std::vector<uint8_t> out(m_data.begin() + static_cast<std::ptrdiff_t>(m_offset),
                             m_data.begin() + static_cast<std::ptrdiff_t>(m_offset + len));
    m_offset += len;
    skipPadding(len);
    return out;
}

uint32_t Reader::arrayCount(uint32_t max, size_t minElementSize) {
    size_t at = m_offset;
    uint32_t count = u32();
    if (!ok()) {
        return 0;
    }
    if (count > max) {
        fail("array of " + std::to_string(count) + " elements at offset " + std::to_string(at) +
             " exceeds the limit of " + std::to_string(max));
        return 0;
    }
    if (minElementSize != 0 && count > remaining() / minElementSize) {
        fail("array of " + std::to_string(count) + " elements at offset " + std::to_string(at) +
             " is longer than the payload");
        return 0;
    }
    return count;
}

void Writer::u32(uint32_t v) {
    m_buf.push_back(static_cast<uint8_t>(v >> 24));
    m_buf.push_back(static_cast<uint8_t>(v >> 16));
    m_buf.push_back(static_cast<uint8_t>(v >> 8));
    m_buf.push_back(static_cast<uint8_t>(v));
}

void Writer::u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
}

void Writer::f64(double v) {
    u64(std::bit_cast<uint64_t>(v));
}

void Writer::pad(size_t n) {
    m_buf.insert(m_buf.end(), padded(n) - n, 0);
}

void Writer::string(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    m_buf.insert(m_buf.end(), s.begin(), s.end());
    pad(s.size());
}

void Writer::optionalString(const std::optional<std::string>& s) {
    boolean(s.has_value());
    if (s) {
        string(*s);
    }
}

void Writer::fixedOpaque(std::span<const uint8_t> bytes) {
    m_buf.insert(m_buf.end(), bytes.begin(), bytes.end());
    pad(bytes.size());
}

void Writer::opaque(std::span<const uint8_t> bytes) {
    u32(static_cast<uint32_t>(bytes.size()));
    fixedOpaque(bytes);
}

} // namespace virtswarm::bridge::xdr
