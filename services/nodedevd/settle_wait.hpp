// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace virtswarm::nodedev {

// Waits, without blocking the loop, until `settled()` holds: checked now, then every
// 20 ms, failing with Timeout after `limit`. The kernel binds drivers and creates mdevs
// during the write, so on a host the first check passes; the pause is for slower
// writers (the tests' fake kernel) and must never hold up other callers.
void waitUntilSettled(EventLoop& loop, std::function<bool()> settled, std::string what,
                      std::chrono::milliseconds limit, std::function<void(Result<void>)> done);

} // namespace virtswarm::nodedev
