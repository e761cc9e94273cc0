// SPDX-License-Identifier: LGPL-2.1-or-later
// The one place that names domain states and reasons, numbers them as libvirt does
// (include/libvirt/libvirt-domain.h) and maps them to lifecycle events.
#include "virtswarm/domain_state.hpp"

#include <array>

namespace virtswarm {
namespace {

// libvirt's virDomainEventType.
constexpr int kEventStarted = 2;
constexpr int kEventSuspended = 3;
constexpr int kEventResumed = 4;
constexpr int kEventStopped = 5;
constexpr int kEventShutdown = 6;
constexpr int kEventCrashed = 8;

struct StateRow {
    DomainState state;
    std::string_view name;
    int32_t libvirtNumber;       // virDomainState
    LifecycleEvent defaultEvent; // for a reason with no row of its own below
};

// Indexed by DomainState.
constexpr std::array<StateRow, kDomainStateCount> kStates{{
    {DomainState::Shutoff, "shutoff", 5, {kEventStopped, 0}},    // STOPPED_SHUTDOWN
    {DomainState::Running, "running", 1, {kEventStarted, 0}},    // STARTED_BOOTED
    {DomainState::Paused, "paused", 3, {kEventSuspended, 0}},    // SUSPENDED_PAUSED
    {DomainState::Shutdown, "shutdown", 4, {kEventShutdown, 0}}, // SHUTDOWN_FINISHED
    {DomainState::Crashed, "crashed", 6, {kEventCrashed, 0}},    // CRASHED_PANICKED
}};

// Indexed by DomainReason.
constexpr std::array<std::string_view, kDomainReasonCount> kReasonNames{{
    "unknown",
    "booted",
    "restored",
    "unpaused",
    "user",
    "ioerror",
    "shutdown",
    "destroyed",
    "crashed",
    "saved",
    "failed",
    "panicked",
    "shim-failing",
    "guest",
    "host",
    "from-snapshot",
}};

struct ReasonRow {
    DomainState state;
    DomainReason reason;
    int32_t libvirtNumber; // virDomain<State>Reason
    LifecycleEvent event;
};

constexpr std::array<ReasonRow, 17> kReasons{{
    {DomainState::Running, DomainReason::Booted, 1, {kEventStarted, 0}},        // STARTED_BOOTED
    {DomainState::Running, DomainReason::Restored, 3, {kEventStarted, 2}},      // STARTED_RESTORED
    {DomainState::Running, DomainReason::Unpaused, 5, {kEventResumed, 0}},      // RESUMED_UNPAUSED
    {DomainState::Running, DomainReason::FromSnapshot, 4, {kEventResumed, 2}},  // RESUMED_FROM_S.
    {DomainState::Paused, DomainReason::User, 1, {kEventSuspended, 0}},         // SUSPENDED_PAUSED
    {DomainState::Paused, DomainReason::IoError, 5, {kEventSuspended, 2}},      // SUSPENDED_IOERROR
    {DomainState::Paused, DomainReason::FromSnapshot, 7, {kEventSuspended, 5}}, // SUSP._FROM_S.
    {DomainState::Shutdown, DomainReason::User, 1, {kEventShutdown, 0}},        // SHUTDOWN_FINISHED
    {DomainState::Shutdown, DomainReason::GuestRequest, 1, {kEventShutdown, 1}}, // _GUEST
    {DomainState::Shutdown, DomainReason::HostRequest, 1, {kEventShutdown, 2}},  // _HOST
    {DomainState::Shutoff, DomainReason::ShutDown, 1, {kEventStopped, 0}},       // STOPPED_SHUTDOWN
    {DomainState::Shutoff, DomainReason::Destroyed, 2, {kEventStopped, 1}},    // STOPPED_DESTROYED
    {DomainState::Shutoff, DomainReason::Crashed, 3, {kEventStopped, 2}},      // STOPPED_CRASHED
    {DomainState::Shutoff, DomainReason::Saved, 5, {kEventStopped, 4}},        // STOPPED_SAVED
    {DomainState::Shutoff, DomainReason::Failed, 6, {kEventStopped, 5}},       // STOPPED_FAILED
    {DomainState::Shutoff, DomainReason::FromSnapshot, 7, {kEventStopped, 6}}, // STOPPED_FROM_S.
    {DomainState::Crashed, DomainReason::Panicked, 1, {kEventCrashed, 0}},     // CRASHED_PANICKED
}};

constexpr bool statesInEnumOrder() {
    for (size_t i = 0; i < kStates.size(); ++i) {
        if (static_cast<size_t>(kStates[i].state) != i) {
            return false;
        }
    }
    return true;
}
static_assert(statesInEnumOrder(), "kStates must be indexed by DomainState");
static_assert(static_cast<int>(DomainReason::FromSnapshot) + 1 == kDomainReasonCount,
              "kReasonNames must name every DomainReason");

const ReasonRow* findReason(DomainState state, DomainReason reason) {
    for (const auto& row : kReasons) {
        if (row.state == state && row.reason == reason) {
            return &row;
        }
    }
    return nullptr;
}

} // namespace

std::string_view toString(DomainState state) {
    return kStates.at(static_cast<size_t>(state)).name;
}

std::string_view toString(DomainReason reason) {
    return kReasonNames.at(static_cast<size_t>(reason));
}

std::optional<DomainState> parseDomainState(std::string_view name) {
    for (const auto& row : kStates) {
        if (row.name == name) {
            return row.state;
        }
    }
    return std::nullopt;
}

std::optional<DomainReason> parseDomainReason(std::string_view name) {
    for (size_t i = 0; i < kReasonNames.size(); ++i) {
        if (kReasonNames[i] == name) {
            return static_cast<DomainReason>(i);
        }
    }
    return std::nullopt;
}

std::optional<StateAndReason> parseStateAndReason(std::string_view state, std::string_view reason) {
    auto parsedState = parseDomainState(state);
    if (!parsedState) {
        return std::nullopt;
    }
    return StateAndReason{*parsedState, parseDomainReason(reason).value_or(DomainReason::Unknown)};
}

bool isActive(DomainState state) {
    return state != DomainState::Shutoff;
}

int32_t libvirtNumber(DomainState state) {
    return kStates.at(static_cast<size_t>(state)).libvirtNumber;
}

int32_t libvirtReasonNumber(DomainState state, DomainReason reason) {
    const ReasonRow* row = findReason(state, reason);
    return row ? row->libvirtNumber : 0;
}

LifecycleEvent lifecycleEventFor(DomainState state, DomainReason reason) {
    const ReasonRow* row = findReason(state, reason);
    return row ? row->event : kStates.at(static_cast<size_t>(state)).defaultEvent;
}

std::vector<LifecycleEvent> lifecycleEventsFor(DomainState state, DomainReason reason) {
    LifecycleEvent event = lifecycleEventFor(state, reason);
    if (state == DomainState::Running && reason == DomainReason::Booted) {
        // qemuProcessStartCPUs: the RESUME handler reports the CPUs starting before the
        // start itself is reported.
        return {{kEventResumed, 0}, event}; // RESUMED_UNPAUSED, STARTED_BOOTED
    }
    return {event};
}

std::vector<LifecycleEvent> startEventsFor(StartKind kind, StateAndReason reached) {
    constexpr LifecycleEvent kStartedFromSnapshot{kEventStarted, 3};
    LifecycleEvent started =
        kind == StartKind::FromSnapshot
            ? kStartedFromSnapshot
            : lifecycleEventFor(DomainState::Running, kind == StartKind::Restore
                                                          ? DomainReason::Restored
                                                          : DomainReason::Booted);
    if (reached.state == DomainState::Paused) {
        // The CPUs never ran: started, then suspended.
        LifecycleEvent suspended =
            kind == StartKind::FromSnapshot
                ? lifecycleEventFor(DomainState::Paused, DomainReason::FromSnapshot)
                : lifecycleEventFor(reached.state, reached.reason);
        return {started, suspended};
    }
    if (reached.reason == DomainReason::FromSnapshot) {
        // The revert starts QEMU paused and resumes it once the snapshot is loaded.
        return {started, lifecycleEventFor(DomainState::Running, DomainReason::FromSnapshot)};
    }
    if (kind == StartKind::Restore) {
        return {started};
    }
    return {lifecycleEventFor(DomainState::Running, DomainReason::Unpaused), started};
}

} // namespace virtswarm
