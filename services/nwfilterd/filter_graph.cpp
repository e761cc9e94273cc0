// SPDX-License-Identifier: LGPL-2.1-or-later
#include "filter_graph.hpp"

#include <set>

namespace virtswarm::nwfilter {
namespace {

// Depth-first over references; `visited` keeps a diamond (two paths to one filter) from
// being walked twice, so the cost is linear in the number of references.
bool walk(const FilterDef& from, const std::string& target, const FilterLookup& lookup,
          std::set<std::string>& visited) {
    for (const auto& entry : from.entries) {
        if (!entry.ref) {
            continue;
        }
        const std::string& name = entry.ref->filter;
        if (name == target) {
            return true;
        }
        if (!visited.insert(name).second) {
            continue;
        }
        const FilterDef* next = lookup(name);
        if (next != nullptr && walk(*next, target, lookup, visited)) {
            return true;
        }
    }
    return false;
}

} // namespace

bool reaches(const FilterDef& from, const std::string& target, const FilterLookup& lookup) {
    if (from.name == target) {
        return true;
    }
    std::set<std::string> visited;
    return walk(from, target, lookup, visited);
}

Result<void> checkReferences(const FilterDef& def, const FilterLookup& lookup) {
    for (const auto& entry : def.entries) {
        if (entry.ref && entry.ref->filter != def.name && lookup(entry.ref->filter) == nullptr) {
            return Error(Code::NoSuchNWFilter, "filter '" + def.name + "' references filter '" +
                                                   entry.ref->filter + "', which does not exist");
        }
    }
    std::set<std::string> visited;
    if (walk(def, def.name, lookup, visited)) {
        return Error(Code::NWFilterLoop, "filter '" + def.name +
                                             "' would introduce a loop: its references lead "
                                             "back to it");
    }
    return success();
}

} // namespace virtswarm::nwfilter
