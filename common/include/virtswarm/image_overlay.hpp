// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The qcow2 overlays an external snapshot puts over a domain's images: the registry makes
// them for a shut-off domain, the shim for a running one (which then points QEMU at them).
#include "virtswarm/event_loop.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace virtswarm {

// One disk's overlay: `overlay` is created over `base` (an image of `baseFormat`).
struct OverlayPlan {
    std::string target; // the disk's target ("vda"), for messages
    std::string base;
    std::string baseFormat;
    std::string overlay;
    // libvirt's REUSE_EXT: `overlay` exists already, made by the user (a qcow2 image);
    // it is used as it is, and never removed.
    bool reuse = false;
};

// The file libvirt names an external snapshot's overlay when the request names none: the
// image's path with its extension replaced by the snapshot's name ("/i/vm.qcow2" and
// "s1": "/i/vm.s1"), or the name appended to a path without one.
std::string defaultOverlayPath(const std::string& image, const std::string& snapshot);

// Creates each overlay in turn, with the definer's rights (`opener`): the base is opened
// read-only as the definer to learn its virtual size, the overlay is created as the
// definer — never over an existing file (ConfigUnsupported, as libvirt refuses it) — and
// qemu-img writes the qcow2 format into that descriptor, recording the base's absolute path
// and format as the backing file; it is told (-u) not to open the base itself. A reused
// overlay must exist and be a qcow2 image the definer can write (ConfigUnsupported
// otherwise, as libvirt's "missing existing file"); nothing is written to it. At the
// first failure the overlays already made are removed again.
void createOverlays(EventLoop& loop, const HostPathOpener& opener, std::vector<OverlayPlan> plans,
                    std::function<void(Result<void>)> done);

// Removes overlays createOverlays made (for a snapshot that failed after them), as the
// definer; failures are logged. Reused ones stay: they are the user's.
void removeOverlays(const HostPathOpener& opener, const std::vector<OverlayPlan>& plans);

} // namespace virtswarm
