// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/qcow2_header.hpp"
#include "virtswarm/result.hpp"

#include <string>
#include <vector>

namespace virtswarm {

// One image below a disk's top image, opened read-only.
struct BackingLayer {
    std::string path;
    std::string format; // raw | qcow2
    int fd = -1;        // the caller's to close
};

// The backing chain of the `format` image at `path` (open read-only as `topFd`): each
// layer found from the header above it (a relative name from that image's directory, as
// QEMU does), opened read-only by `opener`, so a chain reaches only what its definer can
// read. Empty for raw and for an unbacked qcow2. A layer whose format is not recorded is
// used only if it is raw (libvirt's rule: a guest-written raw image must not be probed
// into a qcow2 that names further files). Refused with ConfigUnsupported: a backing that
// is not a local file, a format other than raw and qcow2, an unrecorded non-raw format, a
// loop, or a chain deeper than kMaxBackingDepth. On error no fd is left open.
inline constexpr size_t kMaxBackingDepth = 32;
Result<std::vector<BackingLayer>> openBackingChain(const HostPathOpener& opener,
                                                   const std::string& path,
                                                   const std::string& format, int topFd,
                                                   const std::string& what);

// For paths that take one image only (hotplug, a cdrom change): ConfigUnsupported if the
// `format` image open as `fd` names a backing file, which QEMU would open by name.
Result<void> requireUnbacked(int fd, const std::string& format, const std::string& what);

void closeLayers(std::vector<BackingLayer>& layers);

} // namespace virtswarm
