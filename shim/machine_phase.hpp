// SPDX-License-Identifier: LGPL-2.1-or-later
// Where the shim's Machine is in its life: one value instead of a set of flags, and the
// one table of the moves between them (cloud-hypervisor's VmState::valid_transition is the
// model). The phase is the shim's own bookkeeping; the state and reason it reports to the
// registry (domain_state.hpp) follow from it but are not the same thing: a guest being
// destroyed still reports "running" until QEMU is gone.
#pragma once

#include "virtswarm/result.hpp"

#include <string_view>

namespace virtswarm::shim {

enum class MachinePhase {
    Idle,         // nothing started yet
    Launching,    // TAPs, QEMU spawned paused, monitor, restore: until the first `cont`
    Attaching,    // taking over a QEMU a previous shim started
    Running,      // the guest runs
    Paused,       // the guest is stopped (by a user, an I/O error)
    Rebooting,    // system_reset and `cont` in flight; their STOP/RESUME are not a pause
    ShuttingDown, // the guest powered off; QEMU was told to quit
    Crashed,      // the guest panicked (kept for inspection), or the monitor broke
    Saving,       // a managed save: guest stopped, state streaming to the save file
    Saved,        // the save is written; QEMU was told to quit
    Stopping,     // destroy: SIGTERM sent, SIGKILL after a grace period
    Failed,       // the start failed; QEMU (if any) was killed
    Stopped,      // QEMU is gone: the end
};
inline constexpr int kMachinePhaseCount = static_cast<int>(MachinePhase::Stopped) + 1;

std::string_view toString(MachinePhase phase);

// Whether a Machine may move from `from` to `to`. Staying in a phase is not a transition.
bool validTransition(MachinePhase from, MachinePhase to);

// validTransition as a Result: Code::InvalidState naming both phases when refused.
Result<void> checkTransition(MachinePhase from, MachinePhase to);

} // namespace virtswarm::shim
