// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/snapshot_def.hpp"

#include <map>
#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// The snapshots of one domain as the registry keeps them: a tree by parent name, and
// which one is current, each change on disk before it is made here. The images hold the
// snapshots' data; this is what libvirt calls the snapshot metadata, and it lives in
// <state dir>/snapshot/<uuid hex>/ (<escaped name>.xml, and "current" naming the current
// snapshot), so it survives a registry restart.
class SnapshotSet {
public:
    explicit SnapshotSet(std::string dir)
        : m_dir(std::move(dir)) {}

    // Reads the directory; a file that does not parse is logged and skipped.
    void load();

    const SnapshotDef* find(const std::string& name) const;
    // Every snapshot, oldest first (then by name): parents before their children.
    std::vector<const SnapshotDef*> all() const;
    // The snapshots whose parent is `name`.
    std::vector<std::string> children(const std::string& name) const;
    // `name` and every snapshot below it, children before their parents.
    std::vector<std::string> subtree(const std::string& name) const;
    size_t size() const { return m_snapshots.size(); }
    bool empty() const { return m_snapshots.empty(); }
    // Empty when no snapshot is current.
    const std::string& current() const { return m_current; }

    // Adds or replaces a snapshot.
    Result<void> put(SnapshotDef def);
    // "" for none.
    Result<void> setCurrent(const std::string& name);
    // Removes one snapshot's metadata (its children keep pointing at it: the caller
    // reparents or removes them first). A current snapshot stops being current.
    Result<void> remove(const std::string& name);
    // Every snapshot's metadata and the directory (the domain is undefined).
    Result<void> removeAll();

private:
    std::string fileFor(const std::string& name) const;
    std::string m_dir;
    std::map<std::string, SnapshotDef> m_snapshots;
    std::string m_current;
};

} // namespace virtswarm::hypervisor
