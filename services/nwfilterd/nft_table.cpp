// SPDX-License-Identifier: LGPL-2.1-or-later
#include "nft_table.hpp"

#include <algorithm>

namespace virtswarm::nwfilter {
namespace {

const std::string kPrefix = std::string(" bridge ") + kNftTable;

std::string base() {
    std::string t = "add table" + kPrefix + "\n";
    t += "add map" + kPrefix + " from_guest { type ifname : verdict; }\n";
    t += "add map" + kPrefix + " to_guest { type ifname : verdict; }\n";
    t += "add chain" + kPrefix +
         " prerouting { type filter hook prerouting priority filter; policy accept; }\n";
    t += "add chain" + kPrefix +
         " postrouting { type filter hook postrouting priority filter; policy accept; }\n";
    return t;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// Creates the port's chains (idempotent), fills them, and maps the port to its two root
// chains. The caller has flushed any chain that existed.
std::string fill(const PortRules& port) {
    std::string t;
    for (const auto& chain : port.chains) {
        t += "add chain" + kPrefix + " " + chain.name + "\n";
    }
    for (const auto& chain : port.chains) {
        for (const auto& rule : chain.rules) {
            t += "add rule" + kPrefix + " " + chain.name + " " + rule + "\n";
        }
    }
    t += "add element" + kPrefix + " from_guest { \"" + port.port + "\" : jump " +
         port.chains[0].name + " }\n";
    t += "add element" + kPrefix + " to_guest { \"" + port.port + "\" : jump " +
         port.chains[1].name + " }\n";
    return t;
}

} // namespace

std::string rebuildTransaction(const std::vector<const PortRules*>& ports) {
    // Create-then-delete makes the delete valid whether or not the table exists; the whole
    // file is one transaction, so the table is never seen half-built.
    std::string t = "add table" + kPrefix + "\ndelete table" + kPrefix + "\n" + base();
    t += "add rule" + kPrefix + " prerouting iifname vmap @from_guest\n";
    t += "add rule" + kPrefix + " postrouting oifname vmap @to_guest\n";
    for (const PortRules* port : ports) {
        t += fill(*port);
    }
    return t;
}

std::string updateTransaction(const std::vector<PortChange>& changes) {
    std::string flush, refill, removal;
    for (const auto& change : changes) {
        std::vector<std::string> now =
            change.now ? change.now->chainNames() : std::vector<std::string>{};
        for (const auto& name : change.before) {
            flush += "flush chain" + kPrefix + " " + name + "\n";
            if (!contains(now, name)) {
                removal += "delete chain" + kPrefix + " " + name + "\n";
            }
        }
        if (change.now != nullptr) {
            refill += fill(*change.now);
        } else if (!change.before.empty()) {
            const std::string& port = change.port;
            flush += "delete element" + kPrefix + " from_guest { \"" + port + "\" }\n";
            flush += "delete element" + kPrefix + " to_guest { \"" + port + "\" }\n";
        }
    }
    // Flushes first (nothing jumps anywhere any more), then new rules, then chains no
    // longer used, which nothing references by then.
    return flush + refill + removal;
}

} // namespace virtswarm::nwfilter
