// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_state.hpp"

namespace virtswarm::hypervisor {

LifecycleEvent lifecycleEventFor(std::string_view state, std::string_view reason) {
    constexpr int kStarted = 2, kSuspended = 3, kResumed = 4, kStopped = 5, kShutdown = 6,
                  kCrashed = 8;
    if (state == "running") {
        if (reason == "restored") {
            return {kStarted, 2}; // VIR_DOMAIN_EVENT_STARTED_RESTORED
        }
        return reason == "unpaused" ? LifecycleEvent{kResumed, 0} : LifecycleEvent{kStarted, 0};
    }
    if (state == "paused") {
        return {kSuspended, reason == "ioerror" ? 2 : 0};
    }
    if (state == "shutdown") {
        return {kShutdown, 0};
    }
    if (state == "crashed") {
        return {kCrashed, 0};
    }
    if (state == "shutoff") {
        if (reason == "destroyed") {
            return {kStopped, 1};
        }
        if (reason == "crashed") {
            return {kStopped, 2};
        }
        if (reason == "saved") {
            return {kStopped, 4};
        }
        if (reason == "failed") {
            return {kStopped, 5};
        }
        return {kStopped, 0};
    }
    return {-1, -1};
}

bool isActiveState(std::string_view state) {
    return state != "shutoff";
}

} // namespace virtswarm::hypervisor
