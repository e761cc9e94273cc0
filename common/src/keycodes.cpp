// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/keycodes.hpp"

#include <array>
#include <string>

namespace virtswarm {
namespace {

struct LinuxKey {
    uint32_t input; // the Linux input event code
    uint32_t qnum;
};

// Linux input keycodes past the first 83 (which equal their XT scan codes) with a qnum,
// from the keymap tables libvirt and QEMU share (keymap-gen's keymaps.csv).
constexpr LinuxKey kLinuxExtended[] = {
    {85, 0x76},  // KEY_ZENKAKUHANKAKU
    {86, 0x56},  // KEY_102ND
    {87, 0x57},  // KEY_F11
    {88, 0x58},  // KEY_F12
    {89, 0x73},  // KEY_RO
    {96, 0x9c},  // KEY_KPENTER (E0 1C)
    {97, 0x9d},  // KEY_RIGHTCTRL (E0 1D)
    {98, 0xb5},  // KEY_KPSLASH (E0 35)
    {99, 0x54},  // KEY_SYSRQ
    {100, 0xb8}, // KEY_RIGHTALT (E0 38)
    {102, 0xc7}, // KEY_HOME (E0 47)
    {103, 0xc8}, // KEY_UP
    {104, 0xc9}, // KEY_PAGEUP
    {105, 0xcb}, // KEY_LEFT
    {106, 0xcd}, // KEY_RIGHT
    {107, 0xcf}, // KEY_END
    {108, 0xd0}, // KEY_DOWN
    {109, 0xd1}, // KEY_PAGEDOWN
    {110, 0xd2}, // KEY_INSERT
    {111, 0xd3}, // KEY_DELETE
    {113, 0xa0}, // KEY_MUTE (E0 20)
    {114, 0xae}, // KEY_VOLUMEDOWN (E0 2E)
    {115, 0xb0}, // KEY_VOLUMEUP (E0 30)
    {116, 0xde}, // KEY_POWER (E0 5E)
    {117, 0x59}, // KEY_KPEQUAL
    {119, 0xc6}, // KEY_PAUSE
    {121, 0x7e}, // KEY_KPCOMMA
    {124, 0x7d}, // KEY_YEN
    {125, 0xdb}, // KEY_LEFTMETA (E0 5B)
    {126, 0xdc}, // KEY_RIGHTMETA (E0 5C)
    {127, 0xdd}, // KEY_COMPOSE (E0 5D)
};

constexpr uint32_t kLastPlainXt = 0x53; // KEY_KPDOT: linux 1..83 equal XT set 1
constexpr uint32_t kNoKey = 0;

uint32_t fromLinux(uint32_t key) {
    if (key >= 1 && key <= kLastPlainXt) {
        return key;
    }
    for (const auto& k : kLinuxExtended) {
        if (k.input == key) {
            return k.qnum;
        }
    }
    return kNoKey;
}

// XT set 1 as sent on the wire: a base code, or E0 xx for an extended key.
uint32_t fromAtset1(uint32_t key) {
    if (key >= 1 && key < 0x80) {
        return key;
    }
    if ((key & 0xff00) == 0xe000 && (key & 0xff) >= 1 && (key & 0xff) < 0x80) {
        return 0x80 | (key & 0x7f);
    }
    return kNoKey;
}

uint32_t fromXt(uint32_t key) {
    return key >= 1 && key < 0x80 ? key : kNoKey;
}

uint32_t fromQnum(uint32_t key) {
    return key >= 1 && key <= 0xff ? key : kNoKey;
}

} // namespace

std::string_view keycodeSetName(uint32_t codeset) {
    // virKeycodeSet: LINUX 0, XT 1, ATSET1 2, ..., QNUM 9.
    switch (codeset) {
    case 0:
        return "linux";
    case 1:
        return "xt";
    case 2:
        return "atset1";
    case 9:
        return "qnum";
    default:
        return {};
    }
}

Result<std::vector<uint32_t>> toQnumKeys(std::string_view codeset,
                                         const std::vector<uint32_t>& keys) {
    if (keys.empty() || keys.size() > kMaxSendKeys) {
        return Error(Code::InvalidArgs, "between 1 and " + std::to_string(kMaxSendKeys) +
                                            " keys can be sent at once, not " +
                                            std::to_string(keys.size()));
    }
    uint32_t (*translate)(uint32_t) = nullptr;
    if (codeset == "linux") {
        translate = fromLinux;
    } else if (codeset == "xt") {
        translate = fromXt;
    } else if (codeset == "atset1") {
        translate = fromAtset1;
    } else if (codeset == "qnum" || codeset == "rfb") {
        translate = fromQnum;
    } else {
        return Error(Code::InvalidArgs, "keycode set '" + std::string(codeset) +
                                            "' is not supported (linux, xt, atset1, qnum)");
    }
    std::vector<uint32_t> qnums;
    for (uint32_t key : keys) {
        uint32_t qnum = translate(key);
        if (qnum == kNoKey) {
            return Error(Code::InvalidArgs, "cannot translate keycode " + std::to_string(key) +
                                                " of " + std::string(codeset) +
                                                " codeset to qnum keycode");
        }
        qnums.push_back(qnum);
    }
    return qnums;
}

} // namespace virtswarm
