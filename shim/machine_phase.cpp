// SPDX-License-Identifier: LGPL-2.1-or-later
#include "machine_phase.hpp"

#include <array>
#include <initializer_list>
#include <string>

namespace virtswarm::shim {
namespace {

using enum MachinePhase;

constexpr unsigned bit(MachinePhase p) {
    return 1U << static_cast<unsigned>(p);
}

constexpr unsigned anyOf(std::initializer_list<MachinePhase> phases) {
    unsigned mask = 0;
    for (auto p : phases) {
        mask |= bit(p);
    }
    return mask;
}

struct PhaseRow {
    MachinePhase phase;
    std::string_view name;
    unsigned next; // the phases it may move to
};

// Every phase can end in Stopped: QEMU can exit (or be killed) at any moment. Every phase
// with a QEMU can be destroyed (Stopping), except a save already written, whose end is
// "saved" whatever happens (Machine::destroy waits for it instead).
// Indexed by MachinePhase.
constexpr std::array<PhaseRow, kMachinePhaseCount> kPhases{{
    {Idle, "idle", anyOf({Launching, Attaching})},
    // Paused: the start asked for it (virsh start --paused, restoring a paused guest).
    {Launching, "launching", anyOf({Running, Paused, Failed, Stopping, Stopped})},
    // What QEMU says (query-status) decides between running and paused.
    {Attaching, "attaching", anyOf({Running, Paused, Crashed, Stopping, Stopped})},
    {Running, "running",
     anyOf({Paused, Rebooting, ShuttingDown, Crashed, Saving, Stopping, Stopped})},
    // A paused guest can still panic (QEMU stops it first), be reset, or power off.
    {Paused, "paused",
     anyOf({Running, Rebooting, ShuttingDown, Crashed, Saving, Stopping, Stopped})},
    // The reset is done once `cont` answers: the guest runs, or stays paused by a user's
    // stop that came in between.
    {Rebooting, "rebooting", anyOf({Running, Paused, Crashed, Stopping, Stopped})},
    {ShuttingDown, "shutting-down", anyOf({Crashed, Stopping, Stopped})},
    {Crashed, "crashed", anyOf({Stopping, Stopped})},
    // A failed save lets the guest go on as it is (paused, if the stop came through).
    {Saving, "saving", anyOf({Running, Paused, Saved, Crashed, Stopping, Stopped})},
    {Saved, "saved", anyOf({Stopped})},
    {Stopping, "stopping", anyOf({Stopped})},
    {Failed, "failed", anyOf({Stopping, Stopped})},
    {Stopped, "stopped", 0},
}};

constexpr bool phasesInEnumOrder() {
    for (size_t i = 0; i < kPhases.size(); ++i) {
        if (static_cast<size_t>(kPhases[i].phase) != i) {
            return false;
        }
    }
    return true;
}
static_assert(phasesInEnumOrder(), "kPhases must list the phases in enum order");

const PhaseRow& row(MachinePhase phase) {
    return kPhases.at(static_cast<size_t>(phase));
}

} // namespace

std::string_view toString(MachinePhase phase) {
    return row(phase).name;
}

bool validTransition(MachinePhase from, MachinePhase to) {
    return (row(from).next & bit(to)) != 0;
}

Result<void> checkTransition(MachinePhase from, MachinePhase to) {
    if (validTransition(from, to)) {
        return success();
    }
    return Error(Code::InvalidState, "invalid machine phase transition from " +
                                         std::string(toString(from)) + " to " +
                                         std::string(toString(to)));
}

} // namespace virtswarm::shim
