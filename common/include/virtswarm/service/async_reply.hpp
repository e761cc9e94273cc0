// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Completing async D-Bus methods (Method.Async=server) from callbacks. Every daemon and
// the shim answer through these, so a Result error becomes a D-Bus error in one place
// (toDBusError, with the code's name from the table in error.cpp).
#include "virtswarm/dbus_edge.hpp"

#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <utility>

namespace virtswarm {

// sdbus::Result is move-only; a shared_ptr lets std::function callbacks hold it.
template <typename... Out> using SharedResult = std::shared_ptr<sdbus::Result<Out...>>;

template <typename... Out> SharedResult<Out...> share(sdbus::Result<Out...>&& result) {
    return std::make_shared<sdbus::Result<Out...>>(std::move(result));
}

// Answers with a named D-Bus error.
template <typename... Out> void fail(const SharedResult<Out...>& result, const Error& error) {
    result->returnError(toDBusError(error));
}

// Answers a method without out-arguments with success or the error.
inline void reply(const SharedResult<>& result, const Result<void>& outcome) {
    if (outcome) {
        result->returnResults();
    } else {
        fail(result, outcome.error());
    }
}

// Answers a method with one out-argument with the value or the error.
template <typename T> void reply(const SharedResult<T>& result, const Result<T>& outcome) {
    if (outcome) {
        result->returnResults(outcome.value());
    } else {
        fail(result, outcome.error());
    }
}

} // namespace virtswarm
