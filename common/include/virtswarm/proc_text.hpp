// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

// Reading the kernel's text files (/proc/*, /sys/*): the few steps every reader of them
// repeats, for the accounting in the shim, the host calls of the bridge and the registry's
// capabilities.
namespace virtswarm::proctext {

// Without the blanks, tabs and newlines around it.
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// The decimal number `text` starts with ("183244 kB" -> 183244); nothing if none.
inline std::optional<uint64_t> leadingU64(std::string_view text) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data()) {
        return std::nullopt;
    }
    return v;
}

// Takes the first line off `text` (without its newline).
inline std::string_view nextLine(std::string_view& text) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    return line;
}

} // namespace virtswarm::proctext
