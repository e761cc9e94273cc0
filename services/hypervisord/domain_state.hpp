// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>
#include <string_view>

namespace virtswarm::hypervisor {

// libvirt's virDomainEventType and detail numbers, carried by Manager.DomainEvent so
// the libvirt bridge can forward events unchanged.
struct LifecycleEvent {
    int event;
    int detail;
};

inline constexpr LifecycleEvent kEventDefinedAdded{0, 0};
inline constexpr LifecycleEvent kEventDefinedUpdated{0, 1};
inline constexpr LifecycleEvent kEventUndefinedRemoved{1, 0};

// The event for a transition into (state, reason) as reported by a shim, or
// {-1, -1} when the transition is not a lifecycle event of its own.
LifecycleEvent lifecycleEventFor(std::string_view state, std::string_view reason);

// True while a QEMU process exists for the domain.
bool isActiveState(std::string_view state);

} // namespace virtswarm::hypervisor
