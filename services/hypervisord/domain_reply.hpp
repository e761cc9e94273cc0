// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Completing the Domain interface's async methods: the skeleton's one reply helper, and
// the error the Domain methods share.
#include "virtswarm/service/async_reply.hpp"

#include <string>

namespace virtswarm::hypervisor {

inline Error notRunning(const std::string& name) {
    return Error(Code::InvalidState, "domain '" + name + "' is not running");
}

} // namespace virtswarm::hypervisor
