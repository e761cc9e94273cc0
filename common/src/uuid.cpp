// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/uuid.hpp"

#include <systemd/sd-id128.h>

namespace virtswarm {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

} // namespace

Result<UuidBytes> parseUuid(std::string_view text) {
    std::string digits;
    if (text.size() == 36) {
        for (size_t i = 0; i < text.size(); ++i) {
            bool dashPosition = i == 8 || i == 13 || i == 18 || i == 23;
            if (dashPosition != (text[i] == '-')) {
                return Error(Code::InvalidArgs, "malformed UUID '" + std::string(text) + "'");
            }
            if (!dashPosition) {
                digits += text[i];
            }
        }
    } else if (text.size() == 32) {
        digits = text;
    } else {
        return Error(Code::InvalidArgs, "malformed UUID '" + std::string(text) + "'");
    }
    UuidBytes out{};
    for (size_t i = 0; i < 16; ++i) {
        int hi = hexValue(digits[2 * i]);
        int lo = hexValue(digits[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return Error(Code::InvalidArgs, "malformed UUID '" + std::string(text) + "'");
        }
        out[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return out;
}

UuidHexChars uuidHexChars(const UuidBytes& uuid) {
    static constexpr char kHex[] = "0123456789abcdef";
    UuidHexChars out{};
    size_t i = 0;
    for (uint8_t b : uuid) {
        out[i++] = kHex[b >> 4];
        out[i++] = kHex[b & 0xf];
    }
    return out;
}

std::string uuidHex(const UuidBytes& uuid) {
    return std::string(asView(uuidHexChars(uuid)));
}

std::string formatUuid(const UuidBytes& uuid) {
    std::string hex = uuidHex(uuid);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

UuidBytes randomUuid() {
    sd_id128_t id;
    sd_id128_randomize(&id); // already sets the v4 variant bits
    UuidBytes out{};
    for (size_t i = 0; i < 16; ++i) {
        out[i] = id.bytes[i];
    }
    return out;
}

Result<std::string> domainUuidArgument(const std::string& text) {
    auto uuid = parseUuid(text);
    if (!uuid) {
        return Error(Code::InvalidArgs, "'" + text.substr(0, 64) + "' is not a domain UUID");
    }
    return formatUuid(uuid.value());
}

} // namespace virtswarm
