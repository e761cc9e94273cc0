// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/retry_budget.hpp"

#include <algorithm>

namespace virtswarm {

std::optional<std::chrono::milliseconds> RetryBudget::next(Clock::time_point now) {
    while (!m_attempts.empty() && now - m_attempts.front() >= m_policy.window) {
        m_attempts.pop_front();
    }
    if (static_cast<int>(m_attempts.size()) >= m_policy.maxAttempts) {
        return std::nullopt;
    }
    size_t recent = m_attempts.size();
    m_attempts.push_back(now);
    if (recent == 0) {
        return std::chrono::milliseconds(0);
    }
    auto delay = m_policy.firstDelay;
    for (size_t i = 1; i < recent && delay < m_policy.maxDelay; ++i) {
        delay *= 2;
    }
    return std::min(delay, m_policy.maxDelay);
}

} // namespace virtswarm
