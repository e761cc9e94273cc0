// SPDX-License-Identifier: LGPL-2.1-or-later
// The bounds that keep one caller's flood, or a peer that keeps failing, from costing
// everyone else: pending authorizations and retries with backoff.
#include "virtswarm/authorization_budget.hpp"
#include "virtswarm/retry_budget.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace std::chrono_literals;

TEST(AuthorizationBudget, BoundsOneSenderWithoutTouchingOthers) {
    AuthorizationBudget budget({2, 10, 10});
    EXPECT_TRUE(budget.acquire(":1.5", 1000));
    EXPECT_TRUE(budget.acquire(":1.5", 1000));
    auto third = budget.acquire(":1.5", 1000);
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().code(), Code::LimitsExceeded);
    EXPECT_TRUE(budget.acquire(":1.6", 1000));
    EXPECT_TRUE(budget.acquire(":1.7", 0));
    EXPECT_EQ(budget.pending(), 4u);
}

TEST(AuthorizationBudget, BoundsAllConnectionsOfOneUid) {
    AuthorizationBudget budget({8, 3, 10});
    EXPECT_TRUE(budget.acquire(":1.1", 1000));
    EXPECT_TRUE(budget.acquire(":1.2", 1000));
    EXPECT_TRUE(budget.acquire(":1.3", 1000));
    EXPECT_FALSE(budget.acquire(":1.4", 1000));
    EXPECT_TRUE(budget.acquire(":1.4", 1001));
}

TEST(AuthorizationBudget, BoundsTheTotalAndFreesSlotsOnRelease) {
    AuthorizationBudget budget({8, 8, 2});
    EXPECT_TRUE(budget.acquire(":1.1", 1000));
    EXPECT_TRUE(budget.acquire(":1.2", 1001));
    EXPECT_FALSE(budget.acquire(":1.3", 1002));
    budget.release(":1.1", 1000);
    EXPECT_TRUE(budget.acquire(":1.3", 1002));
    budget.release(":1.2", 1001);
    budget.release(":1.3", 1002);
    EXPECT_EQ(budget.pending(), 0u);
}

TEST(RetryBudget, FirstAtOnceThenDoublingUpToTheBound) {
    RetryBudget retries({4, 60s, 100ms, 250ms});
    auto t = RetryBudget::Clock::now();
    EXPECT_EQ(retries.next(t), 0ms);
    EXPECT_EQ(retries.next(t), 100ms);
    EXPECT_EQ(retries.next(t), 200ms);
    EXPECT_EQ(retries.next(t), 250ms);
    EXPECT_EQ(retries.next(t), std::nullopt);
    EXPECT_EQ(retries.next(t + 30s), std::nullopt);
}

TEST(RetryBudget, AttemptsOutsideTheWindowNoLongerCount) {
    RetryBudget retries({2, 60s, 100ms, 1s});
    auto t = RetryBudget::Clock::now();
    EXPECT_TRUE(retries.next(t));
    EXPECT_TRUE(retries.next(t + 1s));
    EXPECT_FALSE(retries.next(t + 2s));
    EXPECT_EQ(retries.next(t + 60500ms), 100ms);
    retries.reset();
    EXPECT_EQ(retries.next(t + 62s), 0ms);
}
