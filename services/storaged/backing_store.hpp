// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/storage_def.hpp"

namespace virtswarm::storage {

// The new volume `def` with its <backingStore> checked as the caller who asked for it:
// the backing file is opened read-only by `asCaller` (HostPathOpener::forDefiner of the
// caller), so storaged, which runs as root, never reads a file for a client that could not
// read it itself; qemu-img then writes the overlay without opening the backing file
// (qemu_img::createArgv's -u). The format, when the XML gives none, is what the file is
// (qcow2 by its header, else raw), as libvirt probes it; the capacity, when it gives none,
// is the backing file's size (a qcow2's virtual size). Errors: the opener's (NoSuchFile,
// AccessDenied, ...), InvalidArgs for a backing file that is not the qcow2 the XML says,
// or a qcow2 header that contradicts itself. A definition without backing store is
// returned as it is.
Result<VolumeDef> resolveBackingStore(VolumeDef def, const HostPathOpener& asCaller);

} // namespace virtswarm::storage
