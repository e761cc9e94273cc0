// SPDX-License-Identifier: LGPL-2.1-or-later
// The shim's phase table: every (from, to) pair of phases, allowed or refused.
#include "machine_phase.hpp"

#include <gtest/gtest.h>
#include <set>
#include <utility>

using namespace virtswarm;
using namespace virtswarm::shim;
using enum MachinePhase;

namespace {

// The allowed moves, written out one by one (not derived from the table under test).
const std::set<std::pair<MachinePhase, MachinePhase>> kAllowed{
    {Idle, Launching},       {Idle, Attaching},

    {Launching, Running},    {Launching, Paused},      {Launching, Failed},
    {Launching, Stopping},   {Launching, Stopped},

    {Attaching, Running},    {Attaching, Paused},      {Attaching, Crashed},
    {Attaching, Stopping},   {Attaching, Stopped},

    {Running, Paused},       {Running, Rebooting},     {Running, ShuttingDown},
    {Running, Crashed},      {Running, Saving},        {Running, Stopping},
    {Running, Stopped},

    {Paused, Running},       {Paused, Rebooting},      {Paused, ShuttingDown},
    {Paused, Crashed},       {Paused, Saving},         {Paused, Stopping},
    {Paused, Stopped},

    {Rebooting, Running},    {Rebooting, Paused},      {Rebooting, Crashed},
    {Rebooting, Stopping},   {Rebooting, Stopped},

    {ShuttingDown, Crashed}, {ShuttingDown, Stopping}, {ShuttingDown, Stopped},

    {Crashed, Stopping},     {Crashed, Stopped},

    {Saving, Running},       {Saving, Paused},         {Saving, Saved},
    {Saving, Crashed},       {Saving, Stopping},       {Saving, Stopped},

    {Saved, Stopped},

    {Stopping, Stopped},

    {Failed, Stopping},      {Failed, Stopped},
};

MachinePhase phaseAt(int i) {
    return static_cast<MachinePhase>(i);
}

} // namespace

TEST(MachinePhaseTable, EveryPairIsAllowedExactlyWhenListed) {
    for (int f = 0; f < kMachinePhaseCount; ++f) {
        for (int t = 0; t < kMachinePhaseCount; ++t) {
            auto from = phaseAt(f);
            auto to = phaseAt(t);
            bool expected = kAllowed.count({from, to}) != 0;
            EXPECT_EQ(validTransition(from, to), expected)
                << toString(from) << " -> " << toString(to);
        }
    }
}

TEST(MachinePhaseTable, RefusalIsANamedInvalidStateError) {
    auto refused = checkTransition(Stopped, Running);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), Code::InvalidState);
    EXPECT_NE(refused.error().message().find("stopped"), std::string::npos);
    EXPECT_NE(refused.error().message().find("running"), std::string::npos);
    EXPECT_TRUE(checkTransition(Idle, Launching).ok());
}

TEST(MachinePhaseTable, StoppedIsFinalAndReachableFromEveryOtherPhase) {
    for (int f = 0; f < kMachinePhaseCount; ++f) {
        auto from = phaseAt(f);
        EXPECT_FALSE(validTransition(Stopped, from)) << toString(from);
        if (from != Stopped && from != Idle) {
            EXPECT_TRUE(validTransition(from, Stopped)) << toString(from);
        }
    }
}

TEST(MachinePhaseTable, NoPhaseMovesToItselfAndNamesAreUnique) {
    std::set<std::string_view> names;
    for (int i = 0; i < kMachinePhaseCount; ++i) {
        auto phase = phaseAt(i);
        EXPECT_FALSE(validTransition(phase, phase)) << toString(phase);
        EXPECT_TRUE(names.insert(toString(phase)).second) << toString(phase);
    }
}
