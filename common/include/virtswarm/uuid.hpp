// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace virtswarm {

using UuidBytes = std::array<uint8_t, 16>;

// Accepts "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" or 32 hex digits (any case), as libvirt does.
Result<UuidBytes> parseUuid(std::string_view text);
std::string formatUuid(const UuidBytes& uuid); // canonical lower-case with dashes
// A domain's UUID given as a method argument, in its canonical form; InvalidArgs naming
// (the start of) the text otherwise. For the daemons that know domains by UUID only.
Result<std::string> domainUuidArgument(const std::string& text);
std::string uuidHex(const UuidBytes& uuid); // 32 lower-case hex digits
// The same digits with no allocation: what a lookup by UUID makes its key from.
using UuidHexChars = std::array<char, 32>;
UuidHexChars uuidHexChars(const UuidBytes& uuid);
inline std::string_view asView(const UuidHexChars& hex) {
    return {hex.data(), hex.size()};
}
UuidBytes randomUuid(); // version 4

} // namespace virtswarm
