// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <deque>
#include <optional>

namespace virtswarm {

// Backoff with a bound, for whatever is retried on its own (a shim relaunched under a
// running domain, a mirror resynchronised): the first attempt at once, the next ones after
// doubling delays, and no more than `maxAttempts` within `window`. What an attacker or a
// broken peer can trigger this way costs a few processes or calls, never a storm.
class RetryBudget {
public:
    using Clock = std::chrono::steady_clock;
    struct Policy {
        int maxAttempts = 5;
        std::chrono::milliseconds window{60000};
        std::chrono::milliseconds firstDelay{500};
        std::chrono::milliseconds maxDelay{8000};
    };

    RetryBudget()
        : RetryBudget(Policy{}) {}
    explicit RetryBudget(Policy policy)
        : m_policy(policy) {}

    // Records an attempt at `now` and returns how long to wait before making it, or
    // nothing when the bound is reached (the attempt is then not recorded).
    std::optional<std::chrono::milliseconds> next(Clock::time_point now = Clock::now());
    // Forgets past attempts (after a success that proves the peer healthy again).
    void reset() { m_attempts.clear(); }

private:
    Policy m_policy;
    std::deque<Clock::time_point> m_attempts;
};

} // namespace virtswarm
