// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// A refresh of a pool of a thousand volumes must not run a thousand `qemu-img info`: the
// sizes of raw and qcow2 images are read here from stat and the qcow2 header
// (virtswarm/qcow2_header.hpp, bounded reads).
#include "virtswarm/result.hpp"
#include "virtswarm/storage_def.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/stat.h>

namespace virtswarm::storage {

struct ImageHeader {
    VolumeFormat format = VolumeFormat::Raw;
    uint64_t virtualSize = 0;
    std::string backingFile; // as written in the image (may be relative)
    std::optional<VolumeFormat> backingFormat;
};

// From an open image and its fstat. std::nullopt when only qemu-img can tell (another
// format's magic, a qcow2 version this reader does not know, a backing file of a format
// other than raw and qcow2 or of none recorded); an error when the file cannot be read or
// its header is inconsistent.
Result<std::optional<ImageHeader>> readImageHeader(int fd, const struct stat& st);

// Fills a volume's format and sizes from its file (never through a symbolic link), and
// `st` with its fstat; false when qemu-img must tell.
bool fillFromHeader(VolumeInfo& volume, struct stat& st);

} // namespace virtswarm::storage
