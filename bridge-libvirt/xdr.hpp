// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// A small typed XDR (RFC 4506) codec for the libvirt remote protocol.
//
// Reader: every field read is bounds-checked against the bytes actually present, and every
// variable-length item against its protocol maximum before anything is allocated. The first
// failure is sticky: later reads return zero values and consume nothing, so a decoder is a
// straight sequence of reads followed by one finish() check, with no way to forget a check
// in between. finish() also rejects trailing bytes, as rpcgen-generated libvirtd does.
namespace virtswarm::bridge::xdr {

class Reader {
public:
    explicit Reader(std::span<const uint8_t> data)
        : m_data(data) {}

    uint32_t u32();
    int32_t i32();
    uint64_t u64();
    int64_t i64();
    double f64();
    bool boolean(); // an int that must be 0 or 1
    // A string of at most `max` bytes; embedded NUL bytes are refused (C clients cannot
    // produce them, and names with them could not be matched safely).
    std::string string(uint32_t max);
    // XDR optional (*T): a 0/1 discriminant, then the value.
    std::optional<std::string> optionalString(uint32_t max);
    bool present();
    // Fixed-size opaque: exactly out.size() bytes plus padding, no length word.
    void fixedOpaque(std::span<uint8_t> out);
    std::vector<uint8_t> opaque(uint32_t max);
    // The count of a variable-length array; fails if above `max` or if the remaining bytes
    // cannot hold `count` elements of at least `minElementSize` bytes each, so a hostile
    // count never leads to a large reservation.
    uint32_t arrayCount(uint32_t max, size_t minElementSize);

    bool ok() const { return m_error.empty(); }
    const std::string& error() const { return m_error; }
    size_t offset() const { return m_offset; }
    size_t remaining() const { return m_data.size() - m_offset; }

    // Records a decoding failure found by the caller (a bad enum value, say).
    void fail(std::string message);
    // OK when every read succeeded and all bytes were consumed.
    Result<void> finish() const;

private:
    bool need(size_t n, const char* what);
    void skipPadding(size_t n);

    std::span<const uint8_t> m_data;
    size_t m_offset = 0;
    std::string m_error;
};

// Appends XDR items to a growing buffer. Writing cannot fail; message size limits are
// enforced where a payload becomes a message (frame.hpp).
class Writer {
public:
    void u32(uint32_t v);
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void u64(uint64_t v);
    void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
    void f64(double v);
    void boolean(bool v) { u32(v ? 1 : 0); }
    void string(std::string_view s);
    void optionalString(const std::optional<std::string>& s);
    void fixedOpaque(std::span<const uint8_t> bytes);
    void opaque(std::span<const uint8_t> bytes);

    const std::vector<uint8_t>& bytes() const { return m_buf; }
    std::vector<uint8_t> take() { return std::move(m_buf); }
    size_t size() const { return m_buf.size(); }

private:
    void pad(size_t n);

    std::vector<uint8_t> m_buf;
};

inline constexpr size_t padded(size_t n) {
    return (n + 3) & ~size_t{3};
}

} // namespace virtswarm::bridge::xdr
