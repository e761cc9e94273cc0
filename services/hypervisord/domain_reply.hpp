// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Completing the Domain interface's async methods, shared by its implementation files.
#include "virtswarm/dbus_edge.hpp"

#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::hypervisor {

// Async replies are completed from callbacks; a shared_ptr lets std::function hold them.
template <typename... Out> using SharedResult = std::shared_ptr<sdbus::Result<Out...>>;

template <typename... Out> SharedResult<Out...> share(sdbus::Result<Out...>&& result) {
    return std::make_shared<sdbus::Result<Out...>>(std::move(result));
}

template <typename... Out> void reply(const SharedResult<Out...>& result, Result<void> outcome) {
    if (outcome) {
        result->returnResults();
    } else {
        result->returnError(toDBusError(outcome.error()));
    }
}

inline Error notRunning(const std::string& name) {
    return Error(Code::InvalidState, "domain '" + name + "' is not running");
}

} // namespace virtswarm::hypervisor
