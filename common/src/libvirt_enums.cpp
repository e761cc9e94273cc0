// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/libvirt_enums.hpp"

#include <array>

namespace virtswarm {
namespace {

struct StateRow {
    std::string_view name;
    int32_t number;
};

struct ReasonRow {
    std::string_view state;
    std::string_view reason;
    int32_t number;
};

constexpr std::array<StateRow, 5> kStates{
    {{"running", 1}, {"paused", 3}, {"shutdown", 4}, {"shutoff", 5}, {"crashed", 6}}};

constexpr std::array<ReasonRow, 12> kReasons{{
    {"running", "booted", 1},
    {"running", "restored", 3},
    {"running", "unpaused", 5},
    {"paused", "user", 1},
    {"paused", "ioerror", 5},
    {"shutdown", "user", 1},
    {"shutoff", "shutdown", 1},
    {"shutoff", "destroyed", 2},
    {"shutoff", "crashed", 3},
    {"shutoff", "saved", 5},
    {"shutoff", "failed", 6},
    {"crashed", "panicked", 1},
}};

} // namespace

int32_t libvirtStateNumber(std::string_view state) {
    for (const auto& row : kStates) {
        if (row.name == state) {
            return row.number;
        }
    }
    return 0; // VIR_DOMAIN_NOSTATE
}

int32_t libvirtReasonNumber(std::string_view state, std::string_view reason) {
    for (const auto& row : kReasons) {
        if (row.state == state && row.reason == reason) {
            return row.number;
        }
    }
    return 0; // *_UNKNOWN
}

} // namespace virtswarm
