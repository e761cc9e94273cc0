// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string_view>

namespace virtswarm {

// libvirt's numeric virDomainState and per-state reason for our state and reason names,
// as virsh and the libvirt RPC carry them.
int32_t libvirtStateNumber(std::string_view state);
int32_t libvirtReasonNumber(std::string_view state, std::string_view reason);

} // namespace virtswarm
