// SPDX-License-Identifier: LGPL-2.1-or-later
// The domain state tables: names on D-Bus, libvirt numbers, lifecycle events.
#include "virtswarm/domain_state.hpp"
#include "virtswarm/libvirt_enums.hpp"

#include <gtest/gtest.h>
#include <set>

using namespace virtswarm;

TEST(DomainStateTable, EveryStateHasAUniqueNameThatRoundTrips) {
    std::set<std::string_view> names;
    for (int i = 0; i < kDomainStateCount; ++i) {
        auto state = static_cast<DomainState>(i);
        auto name = toString(state);
        EXPECT_FALSE(name.empty());
        EXPECT_TRUE(names.insert(name).second) << name;
        EXPECT_EQ(parseDomainState(name), state) << name;
    }
    EXPECT_EQ(parseDomainState("blocked"), std::nullopt);
    EXPECT_EQ(parseDomainState(""), std::nullopt);
    EXPECT_EQ(parseDomainState("Running"), std::nullopt);
}

TEST(DomainStateTable, EveryReasonHasAUniqueNameThatRoundTrips) {
    std::set<std::string_view> names;
    for (int i = 0; i < kDomainReasonCount; ++i) {
        auto reason = static_cast<DomainReason>(i);
        auto name = toString(reason);
        EXPECT_FALSE(name.empty());
        EXPECT_TRUE(names.insert(name).second) << name;
        EXPECT_EQ(parseDomainReason(name), reason) << name;
    }
    EXPECT_EQ(parseDomainReason("migrated"), std::nullopt);
}

// The names clients already read off the State and StateReason properties.
TEST(DomainStateTable, NamesAreTheOnesOnTheBus) {
    struct Row {
        DomainState state;
        std::string_view name;
    };
    for (auto [state, name] :
         {Row{DomainState::Shutoff, "shutoff"}, Row{DomainState::Running, "running"},
          Row{DomainState::Paused, "paused"}, Row{DomainState::Shutdown, "shutdown"},
          Row{DomainState::Crashed, "crashed"}}) {
        EXPECT_EQ(toString(state), name);
    }
    EXPECT_EQ(toString(DomainReason::Unknown), "unknown");
    EXPECT_EQ(toString(DomainReason::IoError), "ioerror");
    EXPECT_EQ(toString(DomainReason::ShutDown), "shutdown");
    EXPECT_EQ(toString(DomainReason::ShimFailing), "shim-failing");
}

TEST(DomainStateTable, OnlyShutoffIsInactive) {
    for (int i = 0; i < kDomainStateCount; ++i) {
        auto state = static_cast<DomainState>(i);
        EXPECT_EQ(isActive(state), state != DomainState::Shutoff) << toString(state);
    }
}

// Numbers from libvirt's include/libvirt/libvirt-domain.h.
TEST(DomainStateTable, LibvirtNumbers) {
    struct Row {
        std::string_view state;
        std::string_view reason;
        int32_t stateNumber;
        int32_t reasonNumber;
    };
    const Row rows[] = {
        {"running", "booted", 1, 1},
        {"running", "restored", 1, 3},
        {"running", "unpaused", 1, 5},
        {"running", "unknown", 1, 0},
        {"paused", "user", 3, 1},
        {"paused", "ioerror", 3, 5},
        {"shutdown", "user", 4, 1},
        {"shutoff", "shutdown", 5, 1},
        {"shutoff", "destroyed", 5, 2},
        {"shutoff", "crashed", 5, 3},
        {"shutoff", "saved", 5, 5},
        {"shutoff", "failed", 5, 6},
        {"shutoff", "unknown", 5, 0},
        {"crashed", "panicked", 6, 1},
        {"crashed", "shim-failing", 6, 0},
        {"paused", "saved", 3, 0}, // no such pair
        // VIR_DOMAIN_SHUTDOWN_USER: libvirt has no reason of its own for who asked.
        {"shutdown", "guest", 4, 1},
        {"shutdown", "host", 4, 1},
        // VIR_DOMAIN_RUNNING_FROM_SNAPSHOT, _PAUSED_FROM_SNAPSHOT, _SHUTOFF_FROM_SNAPSHOT.
        {"running", "from-snapshot", 1, 4},
        {"paused", "from-snapshot", 3, 7},
        {"shutoff", "from-snapshot", 5, 7},
    };
    for (const auto& row : rows) {
        auto state = parseDomainState(row.state);
        auto reason = parseDomainReason(row.reason);
        ASSERT_TRUE(state && reason) << row.state << "/" << row.reason;
        EXPECT_EQ(libvirtNumber(*state), row.stateNumber) << row.state;
        EXPECT_EQ(libvirtReasonNumber(*state, *reason), row.reasonNumber)
            << row.state << "/" << row.reason;
        EXPECT_EQ(libvirtStateNumber(row.state), row.stateNumber);
        EXPECT_EQ(libvirtReasonNumber(row.state, row.reason), row.reasonNumber);
    }
    // Names no table knows are libvirt's NOSTATE and *_UNKNOWN.
    EXPECT_EQ(libvirtStateNumber("blocked"), 0);
    EXPECT_EQ(libvirtReasonNumber("running", "migrated"), 0);
}

// virDomainEventType and its details, as the bridge forwards them.
TEST(DomainStateTable, LifecycleEvents) {
    struct Row {
        DomainState state;
        DomainReason reason;
        LifecycleEvent event;
    };
    using S = DomainState;
    using R = DomainReason;
    const Row rows[] = {
        {S::Running, R::Booted, {2, 0}},
        {S::Running, R::Restored, {2, 2}},
        {S::Running, R::Unpaused, {4, 0}},
        {S::Running, R::Unknown, {2, 0}},
        {S::Paused, R::User, {3, 0}},
        {S::Paused, R::IoError, {3, 2}},
        {S::Paused, R::Unknown, {3, 0}},
        {S::Shutdown, R::User, {6, 0}},
        {S::Crashed, R::Panicked, {8, 0}},
        {S::Crashed, R::ShimFailing, {8, 0}},
        {S::Shutoff, R::ShutDown, {5, 0}},
        {S::Shutoff, R::Destroyed, {5, 1}},
        {S::Shutoff, R::Crashed, {5, 2}},
        {S::Shutoff, R::Saved, {5, 4}},
        {S::Shutoff, R::Failed, {5, 5}},
        {S::Shutoff, R::Unknown, {5, 0}},
        // VIR_DOMAIN_EVENT_SHUTDOWN_GUEST and _HOST.
        {S::Shutdown, R::GuestRequest, {6, 1}},
        {S::Shutdown, R::HostRequest, {6, 2}},
        // _RESUMED_FROM_SNAPSHOT, _SUSPENDED_FROM_SNAPSHOT, _STOPPED_FROM_SNAPSHOT.
        {S::Running, R::FromSnapshot, {4, 2}},
        {S::Paused, R::FromSnapshot, {3, 5}},
        {S::Shutoff, R::FromSnapshot, {5, 6}},
    };
    for (const auto& row : rows) {
        auto event = lifecycleEventFor(row.state, row.reason);
        EXPECT_EQ(event.event, row.event.event)
            << toString(row.state) << "/" << toString(row.reason);
        EXPECT_EQ(event.detail, row.event.detail)
            << toString(row.state) << "/" << toString(row.reason);
    }
    EXPECT_EQ(kEventDefinedAdded, (LifecycleEvent{0, 0}));
    EXPECT_EQ(kEventDefinedUpdated, (LifecycleEvent{0, 1}));
    EXPECT_EQ(kEventUndefinedRemoved, (LifecycleEvent{1, 0}));
    EXPECT_EQ(kEventDefinedFromSnapshot, (LifecycleEvent{0, 3}));
}

// libvirt's sequences (qemu_process.c): the RESUME handler reports RESUMED/UNPAUSED as the
// CPUs start, before the start is reported as STARTED/BOOTED; everything else is one event.
TEST(DomainStateTable, ABootIsResumedThenStarted) {
    using S = DomainState;
    using R = DomainReason;
    EXPECT_EQ(lifecycleEventsFor(S::Running, R::Booted),
              (std::vector<LifecycleEvent>{{4, 0}, {2, 0}}));
    for (int s = 0; s < kDomainStateCount; ++s) {
        for (int r = 0; r < kDomainReasonCount; ++r) {
            auto state = static_cast<S>(s);
            auto reason = static_cast<R>(r);
            if (state == S::Running && reason == R::Booted) {
                continue;
            }
            EXPECT_EQ(lifecycleEventsFor(state, reason),
                      (std::vector<LifecycleEvent>{lifecycleEventFor(state, reason)}))
                << toString(state) << "/" << toString(reason);
        }
    }
}

// What libvirtd 9.0 sent on this machine (python-libvirt, a TCG guest, every revert
// transition): a start's events depend on how it began.
TEST(DomainStateTable, StartEventsAreLibvirtsForEachKindOfStart) {
    using S = DomainState;
    using R = DomainReason;
    using K = StartKind;
    using Events = std::vector<LifecycleEvent>;
    EXPECT_EQ(startEventsFor(K::Boot, {S::Running, R::Booted}), (Events{{4, 0}, {2, 0}}));
    EXPECT_EQ(startEventsFor(K::Boot, {S::Paused, R::User}), (Events{{2, 0}, {3, 0}}));
    EXPECT_EQ(startEventsFor(K::Restore, {S::Running, R::Restored}), (Events{{2, 2}}));
    EXPECT_EQ(startEventsFor(K::Restore, {S::Paused, R::User}), (Events{{2, 2}, {3, 0}}));
    // From a snapshot's memory: STARTED/FROM_SNAPSHOT, then RESUMED or SUSPENDED/FROM_SNAPSHOT.
    EXPECT_EQ(startEventsFor(K::FromSnapshot, {S::Running, R::FromSnapshot}),
              (Events{{2, 3}, {4, 2}}));
    EXPECT_EQ(startEventsFor(K::FromSnapshot, {S::Paused, R::FromSnapshot}),
              (Events{{2, 3}, {3, 5}}));
    // A boot of the disks a shut-off snapshot put back (revert --running / --paused).
    EXPECT_EQ(startEventsFor(K::FromSnapshot, {S::Running, R::Booted}), (Events{{4, 0}, {2, 3}}));
    EXPECT_EQ(startEventsFor(K::FromSnapshot, {S::Paused, R::User}), (Events{{2, 3}, {3, 5}}));
}

TEST(DomainStateTable, ReportedPairsParseWithUnknownReasonsAsUnknown) {
    EXPECT_EQ(parseStateAndReason("paused", "ioerror"),
              (StateAndReason{DomainState::Paused, DomainReason::IoError}));
    EXPECT_EQ(parseStateAndReason("running", "postcopy"),
              (StateAndReason{DomainState::Running, DomainReason::Unknown}));
    EXPECT_EQ(parseStateAndReason("blocked", "user"), std::nullopt);
}
