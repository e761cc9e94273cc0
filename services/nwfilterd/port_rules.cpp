// SPDX-License-Identifier: LGPL-2.1-or-later
#include "port_rules.hpp"

#include "nft_match.hpp"

#include <algorithm>
#include <map>

namespace virtswarm::nwfilter {
namespace {

using Variables = std::map<std::string, std::vector<std::string>>;

// A rule of the expanded tree, with the variables in force where it was written and the
// chain its filter puts it in.
struct PlacedRule {
    const Rule* rule;
    std::string filter;
    std::string chain;
    Variables variables;
};

struct ChainInfo {
    std::string name;
    int priority;
};

struct Expansion {
    std::vector<PlacedRule> rules;
    std::vector<ChainInfo> chains; // sub-chains in order of first use
};

// libvirt's parameter passing: a <filterref>'s parameters replace the inherited values of
// the same names (all values of one name form a list); the rest are inherited.
Variables overlay(const Variables& inherited, const Parameters& parameters) {
    Variables out = inherited;
    Variables given;
    for (const auto& [name, value] : parameters) {
        given[name].push_back(value);
    }
    for (auto& [name, values] : given) {
        out[name] = std::move(values);
    }
    return out;
}

Result<void> expand(const FilterDef& filter, const Variables& variables, const FilterLookup& lookup,
                    size_t depth, Expansion& out) {
    if (depth > kMaxReferenceDepth) {
        return Error(Code::NWFilterLoop,
                     "filter references nest deeper than " + std::to_string(kMaxReferenceDepth));
    }
    if (filter.chain != "root" &&
        std::none_of(out.chains.begin(), out.chains.end(),
                     [&](const ChainInfo& c) { return c.name == filter.chain; })) {
        out.chains.push_back(ChainInfo{filter.chain, filter.priority});
    }
    for (const auto& entry : filter.entries) {
        if (entry.rule) {
            out.rules.push_back(PlacedRule{&*entry.rule, filter.name, filter.chain, variables});
            continue;
        }
        const FilterDef* next = lookup(entry.ref->filter);
        if (next == nullptr) {
            return Error(Code::NoSuchNWFilter, "filter '" + filter.name + "' references '" +
                                                   entry.ref->filter + "', which does not exist");
        }
        if (auto r =
                expand(*next, overlay(variables, entry.ref->parameters), lookup, depth + 1, out);
            !r) {
            return r;
        }
    }
    return success();
}

// Every combination of the values of the variables a rule uses: one rule instance each.
Result<std::vector<std::vector<Attribute>>> instances(const PlacedRule& placed) {
    const Match& match = *placed.rule->match;
    std::vector<std::string> names;
    for (const auto& a : match.attributes) {
        if (a.isVariable() &&
            std::find(names.begin(), names.end(), a.variableName()) == names.end()) {
            names.push_back(a.variableName());
        }
    }
    for (const auto& name : names) {
        auto it = placed.variables.find(name);
        if (it == placed.variables.end()) {
            return Error(Code::InvalidArgs, "variable '" + name + "' used by filter '" +
                                                placed.filter + "' has no value");
        }
        if (it->second.empty()) {
            return std::vector<std::vector<Attribute>>{}; // $IP not learned yet: no instance
        }
    }
    std::vector<std::vector<Attribute>> out;
    std::vector<size_t> index(names.size(), 0);
    while (true) {
        std::vector<Attribute> resolved;
        for (const auto& a : match.attributes) {
            if (!a.isVariable()) {
                resolved.push_back(a);
                continue;
            }
            size_t k = static_cast<size_t>(std::find(names.begin(), names.end(), a.variableName()) -
                                           names.begin());
            const auto& values = placed.variables.at(a.variableName());
            std::string value = values[index[k]];
            if (auto r = checkAttributeValue(match.protocol, a.name, value); !r) {
                return Error(Code::InvalidArgs, "variable '" + a.variableName() + "' of filter '" +
                                                    placed.filter + "': " + r.error().message());
            }
            resolved.push_back(Attribute{a.name, std::move(value)});
        }
        out.push_back(std::move(resolved));
        if (out.size() > kMaxRulesPerPort) {
            return Error(Code::LimitsExceeded, "a binding makes more than " +
                                                   std::to_string(kMaxRulesPerPort) + " rules");
        }
        size_t k = 0;
        while (k < names.size() && ++index[k] == placed.variables.at(names[k]).size()) {
            index[k++] = 0;
        }
        if (k == names.size()) {
            return out;
        }
    }
}

bool usesIp(const PlacedRule& placed) {
    if (!placed.rule->match) {
        return false;
    }
    const auto& attributes = placed.rule->match->attributes;
    return std::any_of(attributes.begin(), attributes.end(), [](const Attribute& a) {
        return a.isVariable() && a.variableName() == "IP";
    });
}

struct Ordered {
    int priority;
    // 0: a jump to a sub-chain, 1: a rule. Jumps go first at equal priority, so a
    // sub-chain's drops (clean-traffic's ARP checks at -500) run before a root rule that
    // accepts the same frames at that priority. The sort is stable: document order else.
    int kind;
    std::string text;
};

Result<void> addRule(const PlacedRule& placed, std::vector<Ordered>& out) {
    const Rule& rule = *placed.rule;
    std::string verdict = nftVerdict(rule.action);
    if (!rule.match) {
        out.push_back(Ordered{rule.priority, 1, verdict});
        return success();
    }
    auto all = instances(placed);
    if (!all) {
        return all.takeError();
    }
    for (const auto& attributes : all.value()) {
        auto match = nftMatch(rule.match->protocol, attributes);
        if (!match) {
            return match.takeError().prefix("filter '" + placed.filter + "'");
        }
        std::string text = match.value().empty() ? verdict : match.value() + " " + verdict;
        out.push_back(Ordered{rule.priority, 1, std::move(text)});
    }
    return success();
}

bool applies(Direction rule, Direction chain) {
    return rule == Direction::InOut || rule == chain;
}

std::vector<std::string> sorted(std::vector<Ordered> entries) {
    std::stable_sort(entries.begin(), entries.end(), [](const Ordered& a, const Ordered& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.kind < b.kind;
    });
    std::vector<std::string> out;
    for (auto& e : entries) {
        out.push_back(std::move(e.text));
    }
    return out;
}

Result<void> buildDirection(const std::string& port, Direction direction,
                            const Expansion& expansion, std::vector<PortChain>& chains) {
    std::string base = port + (direction == Direction::Out ? "-out" : "-in");
    std::vector<Ordered> root;
    for (size_t i = 0; i < expansion.chains.size(); ++i) {
        const ChainInfo& info = expansion.chains[i];
        std::vector<Ordered> rules;
        for (const auto& placed : expansion.rules) {
            if (placed.chain == info.name && applies(placed.rule->direction, direction)) {
                if (auto r = addRule(placed, rules); !r) {
                    return r;
                }
            }
        }
        if (rules.empty()) {
            continue; // nothing for this direction: no chain, no jump
        }
        std::string name = base + "-" + std::to_string(i);
        std::string protocol = chainProtocolMatch(info.name.substr(0, info.name.find('-')));
        root.push_back(
            Ordered{info.priority, 0, (protocol.empty() ? "" : protocol + " ") + "jump " + name});
        chains.push_back(PortChain{name, info.name, sorted(std::move(rules))});
    }
    for (const auto& placed : expansion.rules) {
        if (placed.chain == "root" && applies(placed.rule->direction, direction)) {
            if (auto r = addRule(placed, root); !r) {
                return r;
            }
        }
    }
    chains.insert(chains.begin(), PortChain{base, "root", sorted(std::move(root))});
    return success();
}

} // namespace

size_t PortRules::ruleCount() const {
    size_t n = 0;
    for (const auto& c : chains) {
        n += c.rules.size();
    }
    return n;
}

std::vector<std::string> PortRules::chainNames() const {
    std::vector<std::string> out;
    for (const auto& c : chains) {
        out.push_back(c.name);
    }
    return out;
}

Result<PortRules> compilePort(const BindingDef& binding, const FilterLookup& lookup,
                              const std::vector<std::string>& learnedIps) {
    const FilterDef* filter = lookup(binding.filter.filter);
    if (filter == nullptr) {
        return Error(Code::NoSuchNWFilter, "no filter named '" + binding.filter.filter + "'");
    }
    Variables variables{{"MAC", {binding.mac}}};
    auto learning = ipLearning(binding);
    if (!learning) {
        return learning.takeError();
    }
    if (learning.value()) {
        variables["IP"] = learnedIps; // overlay keeps it: the binding gives no IP
    }
    Expansion expansion;
    if (auto r =
            expand(*filter, overlay(variables, binding.filter.parameters), lookup, 0, expansion);
        !r) {
        return r.takeError();
    }
    PortRules rules{binding.portDev, {}, false};
    rules.learnsIp = learning.value() && *learning.value() != IpLearning::None &&
                     std::any_of(expansion.rules.begin(), expansion.rules.end(), usesIp);
    std::vector<PortChain> in;
    if (auto r = buildDirection(binding.portDev, Direction::Out, expansion, rules.chains); !r) {
        return r.takeError();
    }
    if (auto r = buildDirection(binding.portDev, Direction::In, expansion, in); !r) {
        return r.takeError();
    }
    // [out root, in root, out sub-chains..., in sub-chains...]
    rules.chains.insert(rules.chains.begin() + 1, in.front());
    rules.chains.insert(rules.chains.end(), in.begin() + 1, in.end());
    if (rules.ruleCount() > kMaxRulesPerPort) {
        return Error(Code::LimitsExceeded,
                     "a binding makes more than " + std::to_string(kMaxRulesPerPort) + " rules");
    }
    return rules;
}

namespace {

std::vector<std::string> parameterValues(const BindingDef& binding, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& [given, value] : binding.filter.parameters) {
        if (given == name) {
            out.push_back(value);
        }
    }
    return out;
}

} // namespace

Result<std::optional<IpLearning>> ipLearning(const BindingDef& binding) {
    if (!parameterValues(binding, "IP").empty()) {
        return std::optional<IpLearning>{};
    }
    auto mode = parameterValues(binding, "CTRL_IP_LEARNING");
    if (mode.empty() || (mode.size() == 1 && mode[0] == "any")) {
        return std::optional<IpLearning>{IpLearning::Any};
    }
    if (mode.size() == 1 && mode[0] == "dhcp") {
        return std::optional<IpLearning>{IpLearning::Dhcp};
    }
    if (mode.size() == 1 && mode[0] == "none") {
        return std::optional<IpLearning>{IpLearning::None};
    }
    return Error(Code::InvalidArgs, "CTRL_IP_LEARNING must be one of any, dhcp, none");
}

std::vector<std::string> trustedDhcpServers(const BindingDef& binding) {
    return parameterValues(binding, "DHCPSERVER");
}

} // namespace virtswarm::nwfilter
