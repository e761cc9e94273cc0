// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace virtswarm::shim {

// Typed statistics in libvirt's naming (cpu.time, block.0.rd.bytes, ...), kept free of
// D-Bus types so the machine model does not depend on the transport.
using StatValue = std::variant<int32_t, uint64_t, std::string, bool>;
using Stats = std::vector<std::pair<std::string, StatValue>>;

} // namespace virtswarm::shim
