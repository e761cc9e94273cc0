// SPDX-License-Identifier: LGPL-2.1-or-later
// What one user may cost the bridge: admission of connections, the input budget, and the
// frame parser's share of both (issue 8, item 6).
#include "admission.hpp"
#include "frame.hpp"
#include "input_budget.hpp"
#include "xdr.hpp"

#include <gtest/gtest.h>

namespace virtswarm::bridge {
namespace {

constexpr uid_t kRoot = 0;
constexpr uid_t kUser = 1000;

ServerLimits small() {
    ServerLimits l;
    l.maxClients = 10;
    l.rootReserve = 2;
    l.maxClientsPerUid = 4;
    l.maxAnonymousClientsPerUid = 3;
    return l;
}

TEST(Admission, AUserIsHeldToTheirShare) {
    auto l = small();
    EXPECT_FALSE(refusal(l, kUser, {5, 3, 2}));
    EXPECT_TRUE(refusal(l, kUser, {5, 4, 0}));        // per uid
    EXPECT_TRUE(refusal(l, kUser, {5, 3, 3}));        // not yet opened
    EXPECT_TRUE(refusal(l, std::nullopt, {5, 4, 0})); // TCP peers share one share
}

TEST(Admission, TheLastConnectionsAreRoots) {
    auto l = small();
    EXPECT_FALSE(refusal(l, kUser, {7, 0, 0}));
    EXPECT_TRUE(refusal(l, kUser, {8, 0, 0}));
    EXPECT_FALSE(refusal(l, kRoot, {8, 8, 8}));
    EXPECT_FALSE(refusal(l, kRoot, {9, 9, 9}));
    EXPECT_TRUE(refusal(l, kRoot, {10, 10, 0}));
}

TEST(Admission, ClientsFitTheDescriptorLimit) {
    ServerLimits l;
    EXPECT_EQ(fitToDescriptors(l, 1024).maxClients, 768u);
    EXPECT_EQ(fitToDescriptors(l, 100).maxClients, 36u);
    EXPECT_EQ(fitToDescriptors(l, 524288).maxClients, l.maxClients);
    EXPECT_EQ(fitToDescriptors(l, 10).maxClients, 1u);
}

// Descriptors clients send come out of what is left over: half the headroom at most.
TEST(Admission, HeldDescriptorsFitTheHeadroom) {
    ServerLimits l;
    EXPECT_EQ(fitToDescriptors(l, 524288).maxHeldFds, l.maxHeldFds);
    EXPECT_EQ(fitToDescriptors(l, 524288).maxHeldFdsPerUid, l.maxHeldFdsPerUid);
    ServerLimits small = fitToDescriptors(l, 100); // headroom 64
    EXPECT_EQ(small.maxHeldFds, 32u);
    EXPECT_EQ(small.maxHeldFdsPerUid, 32u);
    EXPECT_LE(small.maxClients + small.maxHeldFds, 100u);
}

TEST(InputBudget, BoundedPerUserAndInTotalButNotForRoot) {
    InputBudget b(100, 150);
    EXPECT_TRUE(b.claim(kUser, 60));
    EXPECT_FALSE(b.claim(kUser, 41)); // the user's 100
    EXPECT_EQ(b.claimedBy(kUser), 60u);
    EXPECT_TRUE(b.claim(kUser + 1, 90));
    EXPECT_FALSE(b.claim(std::nullopt, 1)); // the total's 150
    EXPECT_TRUE(b.claim(kRoot, 1000000));   // root is not counted
    EXPECT_EQ(b.claimedTotal(), 150u);
    b.release(kUser, 60);
    EXPECT_TRUE(b.claim(std::nullopt, 60));
    b.release(kRoot, 1000000);
    b.release(kUser + 1, 1000); // more than claimed: only what was claimed
    EXPECT_EQ(b.claimedTotal(), 60u);
    EXPECT_EQ(b.claimedBy(kUser + 1), 0u);
}

std::vector<uint8_t> lengthWord(uint32_t length) {
    xdr::Writer w;
    w.u32(length);
    return w.take();
}

TEST(FrameLimits, ALoweredMaximumRefusesLargerFrames) {
    FrameParser parser;
    parser.setMaxLength(64 * 1024);
    parser.feed(lengthWord(64 * 1024 + 1));
    EXPECT_TRUE(parser.frameReady());
    EXPECT_FALSE(parser.next());
    EXPECT_EQ(parser.claim(), 4u); // nothing is claimed for a frame that is refused
}

TEST(FrameLimits, AFrameInProgressClaimsItsLengthAndGivesItBack) {
    FrameParser parser;
    const uint32_t length = 1024 * 1024;
    parser.feed(lengthWord(length));
    EXPECT_EQ(parser.claim(), length);
    parser.reserveFrame();
    Header h;
    std::vector<uint8_t> rest(length - 4, 0);
    xdr::Writer header;
    header.u32(h.program);
    header.u32(h.version);
    header.i32(3);
    header.u32(0);
    header.u32(1);
    header.u32(0);
    std::copy(header.bytes().begin(), header.bytes().end(), rest.begin());
    parser.feed(rest);
    auto frame = parser.next();
    ASSERT_TRUE(frame && frame.value());
    EXPECT_EQ(frame.value()->payload.size(), length - 28u);
    EXPECT_EQ(parser.claim(), 0u);
    EXPECT_EQ(parser.buffered(), 0u);
}

} // namespace
} // namespace virtswarm::bridge
