// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/libvirt_enums.hpp"

#include "virtswarm/domain_state.hpp"

namespace virtswarm {

int32_t libvirtStateNumber(std::string_view state) {
    auto parsed = parseDomainState(state);
    return parsed ? libvirtNumber(*parsed) : 0; // VIR_DOMAIN_NOSTATE
}

int32_t libvirtReasonNumber(std::string_view state, std::string_view reason) {
    auto parsedState = parseDomainState(state);
    auto parsedReason = parseDomainReason(reason);
    if (!parsedState || !parsedReason) {
        return 0; // *_UNKNOWN
    }
    return libvirtReasonNumber(*parsedState, *parsedReason);
}

} // namespace virtswarm
