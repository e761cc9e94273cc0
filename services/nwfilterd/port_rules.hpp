// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "filter_graph.hpp"
#include "virtswarm/nwfilter_binding.hpp"

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
Result<PortRules> compilePort(const BindingDef& binding, const FilterLookup& lookup);

} // namespace virtswarm::nwfilter
