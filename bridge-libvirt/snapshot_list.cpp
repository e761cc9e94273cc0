// SPDX-License-Identifier: LGPL-2.1-or-later
#include "snapshot_list.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

using namespace snapshot_list;

bool hasChildren(const std::vector<SnapshotInfo>& all, const std::string& name) {
    return std::any_of(all.begin(), all.end(),
                       [&name](const SnapshotInfo& s) { return s.parent == name; });
}

bool isBelow(const std::vector<SnapshotInfo>& all, const SnapshotInfo& snapshot,
             const std::string& ancestor) {
    std::string parent = snapshot.parent;
    // Bounded by the number of snapshots, should the metadata ever hold a cycle.
    for (size_t steps = 0; !parent.empty() && steps <= all.size(); ++steps) {
        if (parent == ancestor) {
            return true;
        }
        auto it = std::find_if(all.begin(), all.end(),
                               [&parent](const SnapshotInfo& s) { return s.name == parent; });
        parent = it == all.end() ? std::string() : it->parent;
    }
    return false;
}

// A filter pair selects when exactly one of its two bits is set.
bool passes(uint32_t flags, uint32_t yesBit, uint32_t noBit, bool value) {
    bool yes = (flags & yesBit) != 0;
    bool no = (flags & noBit) != 0;
    if (yes == no) {
        return true;
    }
    return yes ? value : !value;
}

bool passesState(uint32_t flags, const SnapshotInfo& s) {
    uint32_t group = flags & (kInactive | kActive | kDiskOnly);
    if (group == 0 || group == (kInactive | kActive | kDiskOnly)) {
        return true;
    }
    bool inactive = s.state == "shutoff";
    bool diskOnly = s.state == "disk-snapshot";
    return ((flags & kInactive) != 0 && inactive) || ((flags & kDiskOnly) != 0 && diskOnly) ||
           ((flags & kActive) != 0 && !inactive && !diskOnly);
}

} // namespace

std::vector<SnapshotInfo> selectSnapshots(const std::vector<SnapshotInfo>& all,
                                          const std::optional<std::string>& under, uint32_t flags) {
    std::vector<SnapshotInfo> out;
    for (const auto& s : all) {
        if (under) {
            bool direct = s.parent == *under;
            if (!(direct || ((flags & kDescendants) != 0 && isBelow(all, s, *under)))) {
                continue;
            }
        } else if ((flags & kRoots) != 0 && !s.parent.empty()) {
            continue;
        }
        if (!passes(flags, kLeaves, kNoLeaves, !hasChildren(all, s.name)) ||
            !passes(flags, kMetadata, kNoMetadata, true) ||
            !passes(flags, kInternal, kExternal, !s.external) || !passesState(flags, s)) {
            continue;
        }
        out.push_back(s);
    }
    return out;
}

} // namespace virtswarm::bridge
