// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// External (overlay) snapshots, the registry's part: which disks a request covers and with
// which overlay files, and the definition that points at the overlays once they exist.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/image_overlay.hpp"
#include "virtswarm/snapshot_def.hpp"

#include <vector>

namespace virtswarm::hypervisor {

// Whether a request asks for an external snapshot: disk-only, or a disk snapshot='external'.
bool wantsExternalSnapshot(const SnapshotRequest& request, bool diskOnly);

// Each disk's part in the external snapshot `name`, as libvirt aligns them: a disk the
// request names keeps its part ("external" or "no"); the others are external unless they
// are a cdrom, read-only or empty. An external disk must be a raw or qcow2 file; its overlay
// is the request's file or libvirt's default name (defaultOverlayPath), absolute and
// distinct from every image of the domain and every other overlay.
// Errors: InvalidXML (a disk the domain lacks), ConfigUnsupported (internal and external
// mixed, a volume or cdrom as external, an overlay that collides, no disk at all).
Result<std::vector<SnapshotDisk>> externalSnapshotDisks(const DomainDef& def,
                                                        const SnapshotRequest& request,
                                                        const std::string& name);

// The overlays a snapshot's external disks put over the definition's images.
std::vector<OverlayPlan> overlayPlans(const DomainDef& def, const SnapshotDef& snapshot);

// The definition with every external disk of `snapshot` on its overlay.
Result<DomainXml> withSnapshotOverlays(const DomainXml& domain, const SnapshotDef& snapshot);

} // namespace virtswarm::hypervisor
