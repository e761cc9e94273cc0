// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "port_rules.hpp"

#include <string>
#include <vector>

namespace virtswarm::nwfilter {

// nwfilterd's own nftables table, which it owns entirely. Frames a guest sends are
// dispatched on the input port (prerouting: bridged and to the host alike), frames it
// receives on the output port (postrouting), through two verdict maps keyed by interface
// name, so a port's chains are added, replaced and removed without touching the others.
inline constexpr const char* kNftTable = "virtswarm-nwfilter";

// A change of one port: its chains before (empty if it had none) and its rules now (null
// to remove the port).
struct PortChange {
    std::string port;
    std::vector<std::string> before;
    const PortRules* now = nullptr;
};

// Replaces the whole table: the base (maps, hook chains) and every port's chains, in one
// transaction (start-up, and recovery after a failed update).
std::string rebuildTransaction(const std::vector<const PortRules*>& ports);

// Updates the given ports in one transaction, leaving the others alone: every chain
// involved is flushed and refilled or deleted, so no frame ever meets a half-written
// chain set, and a redefined filter changes all its ports at once.
std::string updateTransaction(const std::vector<PortChange>& changes);

} // namespace virtswarm::nwfilter
