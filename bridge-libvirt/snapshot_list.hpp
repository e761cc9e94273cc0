// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// libvirt's snapshot listings (virDomainListAllSnapshots, virDomainSnapshotListAllChildren
// and their older name and count forms) over what the registry's Domain.ListSnapshots
// returns: which snapshots a call's flags select, in what order.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace virtswarm::bridge {

// One entry of Domain.ListSnapshots.
struct SnapshotInfo {
    std::string path;
    std::string name;
    std::string parent; // "" for a root
    std::string state;  // running, paused, shutoff, disk-snapshot
    std::string memory; // internal, no
    int64_t creationTime = 0;
    bool current = false;
    bool external = false; // its disks are overlays (libvirt's external snapshots)
};

// virDomainSnapshotListFlags. ROOTS (domain listings) and DESCENDANTS (children
// listings) share bit 0.
namespace snapshot_list {
inline constexpr uint32_t kRoots = 1;
inline constexpr uint32_t kDescendants = 1;
inline constexpr uint32_t kMetadata = 2;
inline constexpr uint32_t kLeaves = 4;
inline constexpr uint32_t kNoLeaves = 8;
inline constexpr uint32_t kNoMetadata = 16;
inline constexpr uint32_t kInactive = 32;
inline constexpr uint32_t kActive = 64;
inline constexpr uint32_t kDiskOnly = 128;
inline constexpr uint32_t kInternal = 256;
inline constexpr uint32_t kExternal = 512;
inline constexpr uint32_t kTopological = 1024;
inline constexpr uint32_t kKnown = 2047;
} // namespace snapshot_list

// The snapshots a listing selects, parents before children (the registry's order, which
// also satisfies TOPOLOGICAL): of the whole domain (`under` empty; only roots with
// kRoots), or below the snapshot `under` (its children; every descendant with
// kDescendants). Each filter pair (leaves, metadata, internal/external) and the state
// group (inactive, active, disk-only) selects only when some but not all of its bits are
// set, as libvirt's.
std::vector<SnapshotInfo> selectSnapshots(const std::vector<SnapshotInfo>& all,
                                          const std::optional<std::string>& under, uint32_t flags);

} // namespace virtswarm::bridge
