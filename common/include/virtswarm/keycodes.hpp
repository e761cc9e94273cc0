// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

// Keys for virDomainSendKey: libvirt's keycode sets translated to QEMU's "qnum" numbers
// (XT scan codes, an extended E0 xx code as 0x80 | xx), which QMP send-key takes as
// {"type": "number"} key values.
namespace virtswarm {

// libvirt's limit (VIR_DOMAIN_SEND_KEY_MAX_KEYS): keys pressed together.
inline constexpr size_t kMaxSendKeys = 16;

// libvirt's virKeycodeSet number → the name the D-Bus API uses ("linux", "xt", "atset1",
// "qnum"), or empty for a set virtswarm does not translate.
std::string_view keycodeSetName(uint32_t codeset);

// `keys` of the set `codeset` (a name as above; "rfb" is qnum) as qnum numbers. Errors:
// InvalidArgs for no keys, more than kMaxSendKeys, an unknown set, or a key the set has no
// qnum for.
Result<std::vector<uint32_t>> toQnumKeys(std::string_view codeset,
                                         const std::vector<uint32_t>& keys);

} // namespace virtswarm
