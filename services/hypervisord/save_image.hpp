// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

// The file `virsh save` writes and `virsh restore` reads: libvirt's QEMU save image
// layout, so an image libvirtd saved restores here and one saved here restores under
// libvirtd. A fixed header (magic, version, length of what follows, whether the guest
// was running, compression, cookie offset), then the domain XML (and libvirt's optional
// cookie) padded with zeros, then QEMU's migration stream. The magic says "partial"
// until the stream is complete, so a save that died half way is never restored.
namespace virtswarm::hypervisor {

inline constexpr size_t kSaveImageHeaderSize = 92;
// Room left after the XML so a SaveImageDefineXML may grow it (libvirt leaves the same).
inline constexpr uint32_t kSaveImageXmlSlack = 64 * 1024;
// The most a header may claim to carry before the stream: read before anything is
// allocated, so a hostile file cannot make the registry allocate gigabytes.
inline constexpr uint32_t kSaveImageDataMax = 16 * 1024 * 1024;

struct SaveImage {
    std::string xml;
    bool wasRunning = false;
    // Bytes between the header and QEMU's stream (XML, cookie, padding).
    uint32_t dataLength = 0;
    // The header was written on a host of the other byte order (libvirt accepts it).
    bool swapped = false;
    uint32_t cookieOffset = 0;
};

// Writes the header (marked partial) and the XML at the start of `fd`, which is left
// where QEMU's stream begins. The file is emptied first.
Result<void> beginSaveImage(int fd, const std::string& xml, bool wasRunning);
// The stream is complete: the header says so, and the file is on disk.
Result<void> completeSaveImage(int fd);
// The file starts with libvirt's header (complete or partial), not with QEMU's stream
// (a managed save image written before they had one).
bool hasSaveImageHeader(int fd);
// Reads and checks the header and the XML; `fd` is left where QEMU's stream begins.
// Incomplete, foreign, newer, compressed or oversized images are OperationFailed or
// ConfigUnsupported with libvirt's wording.
Result<SaveImage> readSaveImage(int fd);
// Replaces the XML (and was-running) of a complete image in place; the new XML must fit
// in the room the image has (libvirt: "new xml too large to fit in file").
Result<void> rewriteSaveImage(int fd, const SaveImage& image, const std::string& xml,
                              bool wasRunning);

} // namespace virtswarm::hypervisor
