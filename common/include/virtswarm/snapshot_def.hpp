// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// libvirt's <domainsnapshot>: what a client asks a snapshot to be, and what the registry
// keeps and shows of one.
#include "virtswarm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace virtswarm {

// A disk's part in a snapshot: <disk name='vda' snapshot='internal|external|no'/>; an
// external one names its overlay (<source file='...'/>, qcow2).
struct SnapshotDisk {
    std::string name; // the disk's target
    std::string snapshot;
    std::string source; // external: the overlay file; empty in a request: libvirt's default
    friend bool operator==(const SnapshotDisk&, const SnapshotDisk&) = default;
};

// What a client's <domainsnapshot> asks for. Everything but the name is optional.
struct SnapshotRequest {
    std::string name; // empty: the creation time in seconds, as libvirt names it
    std::string description;
    std::optional<std::string> memory; // "no" or "internal"
    std::vector<SnapshotDisk> disks;
};

// One snapshot as it is kept.
struct SnapshotDef {
    std::string name;
    std::string description;
    // The domain's state when it was taken (libvirt's names): running, paused or shutoff;
    // disk-snapshot for a disk-only snapshot.
    std::string state;
    std::string parent; // empty for a snapshot taken with no current snapshot
    int64_t creationTime = 0;
    std::string memory; // "internal" (the guest's memory is in the images) or "no"
    std::vector<SnapshotDisk> disks;
    std::string domainXml; // the definition the snapshot was taken of
};

// Names QEMU and the registry's files can hold: 1 to 255 bytes, no '/', no control
// characters. InvalidXML otherwise.
Result<void> checkSnapshotName(std::string_view name);

// Whether the snapshot lives outside the images it covers (libvirt's
// virDomainSnapshotIsExternal): some disk's part is an overlay.
bool isExternal(const SnapshotDef& def);

// Errors: MalformedXML, InvalidXML (not a <domainsnapshot>, a bad name or value, an
// overlay path that is not absolute), ConfigUnsupported (external memory, manual disks,
// an overlay other than a qcow2 file).
Result<SnapshotRequest> parseSnapshotRequest(std::string_view text);

// The stored form, as formatSnapshotDef wrote it.
Result<SnapshotDef> parseSnapshotDef(std::string_view text);

// libvirt's form; `domainXml` is the <domain> shown inside (the caller removes secrets
// unless asked for them).
std::string formatSnapshotDef(const SnapshotDef& def, std::string_view domainXml);

} // namespace virtswarm
