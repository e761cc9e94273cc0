// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Small helpers shared by the domain XML parsers.
#include "virtswarm/error.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace virtswarm::detail {

inline Error invalidXml(const std::string& what) {
    return Error(Code::InvalidXML, what);
}
// A definition that asks for what this driver does not configure: libvirt's
// CONFIG_UNSUPPORTED, not NO_SUPPORT (which clients read as "the API is missing").
inline Error notSupported(const std::string& what) {
    return Error(Code::ConfigUnsupported, what);
}

inline bool oneOf(const std::string& v, std::initializer_list<const char*> allowed) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

// A decimal number, or hexadecimal with a 0x prefix (libvirt accepts both in places
// such as chassis and port numbers).
inline std::optional<uint64_t> parseUnsigned(const std::string& text) {
    std::string_view v = text;
    int base = 10;
    if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        v.remove_prefix(2);
        base = 16;
    }
    uint64_t out = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
    if (ec != std::errc() || ptr != v.data() + v.size() || v.empty()) {
        return std::nullopt;
    }
    return out;
}

} // namespace virtswarm::detail
