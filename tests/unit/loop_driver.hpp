// SPDX-License-Identifier: LGPL-2.1-or-later
// Driving an EventLoop from a test, one iteration at a time.
#pragma once

#include "virtswarm/event_loop.hpp"

#include <chrono>
#include <functional>
#include <systemd/sd-event.h>

namespace virtswarm::testing_loop {

// Runs the loop until `done` holds; false if `limit` passed first.
inline bool runUntil(EventLoop& loop, const std::function<bool()>& done,
                     std::chrono::milliseconds limit) {
    bool expired = false;
    EventSource deadline = loop.addTimer(limit, [&expired] { expired = true; });
    while (!done() && !expired) {
        if (sd_event_run(loop.raw(), UINT64_MAX) < 0) {
            return false;
        }
    }
    return done();
}

// Runs the loop until nothing is ready any more: everything in flight on local sockets
// has been delivered.
inline void settle(EventLoop& loop) {
    for (int i = 0; i < 10000 && sd_event_run(loop.raw(), 0) > 0; ++i) {
    }
}

} // namespace virtswarm::testing_loop
