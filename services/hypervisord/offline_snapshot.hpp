// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// A disk no snapshot covers: a cdrom, a read-only disk or one without a medium has
// nothing to roll back.
bool holdsNoSnapshotData(const DiskDef& disk);

// The images an internal snapshot covers: every writable disk with a medium (a cdrom or a
// read-only disk has nothing to roll back). Each must be a qcow2 file, the only format
// that holds internal snapshots; UEFI variables (a raw pflash file) cannot take part, so
// a domain with them is refused, as libvirt refuses it.
// Errors: ConfigUnsupported naming the disk or the firmware.
Result<std::vector<const DiskDef*>> internalSnapshotDisks(const DomainDef& def);

// qemu-img snapshot on every image of a shut-off domain, one after the other: create (-c),
// apply (-a, the disks go back to the snapshot) or delete (-d) the snapshot `name`. The
// registry runs as root; each image is opened with the definer's rights and handed to
// qemu-img as a descriptor, and qemu-img is told not to open backing files, so nothing the
// definer could not reach is touched. A failed create removes the snapshot from the images
// it already reached.
enum class OfflineSnapshotOp { Create, Apply, Delete };
void runOfflineSnapshot(EventLoop& loop, const DomainXml& domain, OfflineSnapshotOp op,
                        const std::string& name, std::function<void(Result<void>)> done);

} // namespace virtswarm::hypervisor
