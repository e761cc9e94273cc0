// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string_view>

namespace virtswarm {

// libvirt's numeric virDomainState and per-state reason for state and reason names as
// they come off the bus, as virsh and the libvirt RPC carry them (the table is
// domain_state.hpp's; an unknown name is libvirt's 0, NOSTATE or *_UNKNOWN).
int32_t libvirtStateNumber(std::string_view state);
int32_t libvirtReasonNumber(std::string_view state, std::string_view reason);

} // namespace virtswarm
