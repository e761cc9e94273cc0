// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "filter_graph.hpp"
#include "virtswarm/nwfilter_binding.hpp"

#include <optional>
#include <string>
#include <vector>

namespace virtswarm::nwfilter {

// A port's share of the nftables table: its chains, each a list of rules (nft syntax,
// without the "add rule" prefix). chains[0] holds what the guest sends ("<port>-out"),
// chains[1] what it receives ("<port>-in"); the rest are their sub-chains, named
// "<port>-out-<n>"/"<port>-in-<n>" (`comment`: libvirt's name of the chain).
struct PortChain {
    std::string name;
    std::string comment;
    std::vector<std::string> rules;
};

struct PortRules {
    std::string port;
    std::vector<PortChain> chains;
    // The binding learns $IP (CTRL_IP_LEARNING any or dhcp, no IP given) and a rule of its
    // filters uses it: the port needs an IpLearner.
    bool learnsIp = false;
    size_t ruleCount() const;
    std::vector<std::string> chainNames() const;
};

// Bound on what one binding may make: the rule instances (a rule with a list variable of
// n values is n rules) and the depth of references.
inline constexpr size_t kMaxRulesPerPort = 4096;
inline constexpr size_t kMaxReferenceDepth = 32;

// The binding's filter with its references expanded and its variables ($MAC from the
// binding unless given, the rest from the binding's parameters and each <filterref>'s)
// compiled into the port's chains. Errors: NoSuchNWFilter, InvalidArgs (a variable
// without a value, a value of the wrong type for where it is used), ConfigUnsupported,
// LimitsExceeded.
//
// A binding that gives no IP compiles with `learnedIps` as the values of $IP (whatever its
// CTRL_IP_LEARNING): while there are none, every rule instance that uses $IP is left out,
// so no-ip-spoofing's "return if it is the guest's address" is not there and only what
// needs no address passes (DHCP from 0.0.0.0).
Result<PortRules> compilePort(const BindingDef& binding, const FilterLookup& lookup,
                              const std::vector<std::string>& learnedIps = {});

// libvirt's CTRL_IP_LEARNING: `any` (the default) learns the first IPv4 address the guest
// uses (from its ARP or IPv4 frames, or a DHCP lease), `dhcp` only a DHCP lease, `none`
// nothing.
enum class IpLearning { None, Dhcp, Any };

// How the binding gets $IP: nullopt when its parameters give IP (nothing to learn).
// Errors: InvalidArgs (a CTRL_IP_LEARNING that is none of any, dhcp, none).
Result<std::optional<IpLearning>> ipLearning(const BindingDef& binding);

// The binding's DHCPSERVER values: the servers whose answers teach $IP (any server when
// there are none).
std::vector<std::string> trustedDhcpServers(const BindingDef& binding);

} // namespace virtswarm::nwfilter
