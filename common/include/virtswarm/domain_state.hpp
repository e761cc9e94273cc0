// SPDX-License-Identifier: LGPL-2.1-or-later
// A domain's state and the reason it is in it: the names carried on D-Bus (the State and
// StateReason properties, the shim's state file), libvirt's numbers for them (virsh and
// the libvirt RPC), and the lifecycle event a transition into them is. Every one of these
// comes from the tables in domain_state.cpp: nothing else spells a state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace virtswarm {

enum class DomainState {
    Shutoff, // no QEMU process
    Running,
    Paused,
    Shutdown, // the guest is shutting down
    Crashed,  // QEMU still exists but the guest is gone (panicked, or its shim failing)
};
inline constexpr int kDomainStateCount = 5;

// Why the domain is in its state (the StateReason property; not named so here, where
// it would clash with every adaptor's StateReason() getter).
enum class DomainReason {
    Unknown,
    Booted,      // running
    Restored,    // running, from a managed save image
    Unpaused,    // running
    User,        // paused, shutdown
    IoError,     // paused
    ShutDown,    // shutoff: the guest powered off
    Destroyed,   // shutoff
    Crashed,     // shutoff
    Saved,       // shutoff: managed save
    Failed,      // shutoff: the guest never ran
    Panicked,    // crashed
    ShimFailing, // crashed: the registry lost the shim of a running domain
    // shutdown: the guest powered itself off (QEMU's SHUTDOWN with guest=true), or the host
    // ended it (SIGTERM, quit). libvirt's state reason is "user" for both; its event
    // detail tells them apart.
    GuestRequest,
    HostRequest,
    // running, paused: started from a snapshot with memory; shutoff: stopped by a revert.
    FromSnapshot,
};
inline constexpr int kDomainReasonCount = 16;

std::string_view toString(DomainState state);
std::string_view toString(DomainReason reason);

// The enum for a name off the bus or a state file; nullopt for a name no table knows.
std::optional<DomainState> parseDomainState(std::string_view name);
std::optional<DomainReason> parseDomainReason(std::string_view name);

// A state with its reason, as a shim reports it.
struct StateAndReason {
    DomainState state = DomainState::Shutoff;
    DomainReason reason = DomainReason::Unknown;
    friend bool operator==(const StateAndReason&, const StateAndReason&) = default;
};

// A (state, reason) pair off the bus: nullopt for a state no table knows; a reason no
// table knows reads as Unknown (a newer shim may give reasons this registry does not name).
std::optional<StateAndReason> parseStateAndReason(std::string_view state, std::string_view reason);

// True while a QEMU process exists for the domain (everything but shutoff).
bool isActive(DomainState state);

// libvirt's virDomainState number, and the per-state reason number (the *_UNKNOWN 0
// where libvirt has no such reason for that state).
int32_t libvirtNumber(DomainState state);
int32_t libvirtReasonNumber(DomainState state, DomainReason reason);

// libvirt's virDomainEventType and detail numbers, carried by Manager.DomainEvent so the
// libvirt bridge can forward events unchanged.
struct LifecycleEvent {
    int event;
    int detail;
    friend bool operator==(const LifecycleEvent&, const LifecycleEvent&) = default;
};

inline constexpr LifecycleEvent kEventDefinedAdded{0, 0};
inline constexpr LifecycleEvent kEventDefinedUpdated{0, 1};
inline constexpr LifecycleEvent kEventUndefinedRemoved{1, 0};
// A snapshot revert gave the domain the definition the snapshot was taken with.
inline constexpr LifecycleEvent kEventDefinedFromSnapshot{0, 3};

// The event for a transition into (state, reason) as reported by a shim.
LifecycleEvent lifecycleEventFor(DomainState state, DomainReason reason);

// Every event libvirt sends for that transition, in its order: a boot is RESUMED/UNPAUSED
// (QEMU's RESUME as the CPUs start) then STARTED/BOOTED; every other transition is the one
// event above.
std::vector<LifecycleEvent> lifecycleEventsFor(DomainState state, DomainReason reason);

// How a start began, which libvirt tells apart in its events.
enum class StartKind {
    Boot,
    Restore,      // from a saved image
    FromSnapshot, // a snapshot revert's start: from its memory, or a boot of its disks
};

// The events libvirt sends for a start that reached `reached` (running or paused), in its
// order, as measured against libvirtd 9.0: a boot is RESUMED/UNPAUSED, STARTED/BOOTED; a
// paused start is STARTED then SUSPENDED; a revert's start is STARTED/FROM_SNAPSHOT then
// RESUMED/FROM_SNAPSHOT (from memory) or after RESUMED/UNPAUSED (a boot of its disks),
// and paused, SUSPENDED/FROM_SNAPSHOT.
std::vector<LifecycleEvent> startEventsFor(StartKind kind, StateAndReason reached);

} // namespace virtswarm
