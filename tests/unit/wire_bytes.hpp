// SPDX-License-Identifier: LGPL-2.1-or-later
// Test data for the libvirt wire: bytes written as hex, and one UUID in its forms.
#pragma once

#include "virtswarm/uuid.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace virtswarm::bridge::wire_test {

using Bytes = std::vector<uint8_t>;

// "00 00 00 1c ..." (spaces anywhere between bytes) as bytes.
inline Bytes hex(std::string_view text) {
    Bytes out;
    for (size_t i = 0; i + 1 < text.size();) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        out.push_back(
            static_cast<uint8_t>(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
        i += 2;
    }
    return out;
}

inline const UuidBytes kUuid{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                             0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
inline const std::string kUuidText = "12345678-9abc-def0-0123-456789abcdef";

} // namespace virtswarm::bridge::wire_test
