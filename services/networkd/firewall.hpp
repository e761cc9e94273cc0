// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/network_def.hpp"

#include <functional>
#include <string>
#include <vector>

namespace virtswarm::network {

inline constexpr const char* kFirewallTable = "virtswarm";

// The whole nftables table `inet virtswarm`, which networkd owns entirely, for the given
// active networks: NAT (masquerade out of the subnet), routed (forward both ways), and
// isolated (nothing leaves or enters the bridge) networks. "open" and host-bridge
// networks add no rules. Empty when no network needs any.
std::string firewallRuleset(const std::vector<const NetworkDef*>& active);

// The nft transaction that replaces the table atomically (or removes it).
std::string firewallTransaction(const std::vector<const NetworkDef*>& active);

// Runs `nft -f` on the transaction in a child process; `done` when it finished.
void applyFirewall(EventLoop& loop, const std::string& stateDir,
                   const std::vector<const NetworkDef*>& active,
                   std::function<void(Result<void>)> done);

} // namespace virtswarm::network
