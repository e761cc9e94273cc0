// SPDX-License-Identifier: LGPL-2.1-or-later
#include "image_header.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::storage {
namespace {

constexpr size_t kHeaderBytes = 512;
constexpr uint32_t kQcow2Magic = 0x514649fb; // "QFI\xfb"
constexpr uint32_t kMaxBackingName = 1023;   // as QEMU's own limit

uint32_t be32(const std::string& b, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
        v = (v << 8) | static_cast<uint8_t>(b[at + i]);
    }
    return v;
}

uint64_t be64(const std::string& b, size_t at) {
    return (static_cast<uint64_t>(be32(b, at)) << 32) | be32(b, at + 4);
}

// Images of formats qemu-img knows and virtswarm lists as raw: qemu-img tells their
// virtual size (vmdk, vdi, vhdx, qed, vpc, ...).
bool otherFormatMagic(const std::string& b) {
    static const std::array<std::string_view, 6> magics = {
        "KDMV", "QED\0", "vhdxfile", "conectix", "<<< ", "# Disk Descriptor"};
    for (auto magic : magics) {
        if (b.size() >= magic.size() && b.compare(0, magic.size(), magic) == 0) {
            return true;
        }
    }
    // vdi: its signature at offset 64.
    return b.size() >= 68 && be32(b, 64) == 0x7f10dabe;
}

} // namespace

Result<std::optional<ImageHeader>> parseImageHeader(const std::string& bytes, uint64_t fileSize) {
    ImageHeader header;
    if (bytes.size() < 4 || be32(bytes, 0) != kQcow2Magic) {
        if (otherFormatMagic(bytes)) {
            return std::optional<ImageHeader>();
        }
        header.format = VolumeFormat::Raw;
        header.virtualSize = fileSize;
        return std::optional<ImageHeader>(header);
    }
    if (bytes.size() < 72) {
        return Error(Code::OperationFailed, "truncated qcow2 header");
    }
    uint32_t version = be32(bytes, 4);
    if (version != 2 && version != 3) {
        return std::optional<ImageHeader>();
    }
    uint64_t backingOffset = be64(bytes, 8);
    uint32_t backingSize = be32(bytes, 16);
    header.format = VolumeFormat::Qcow2;
    header.virtualSize = be64(bytes, 24);
    if (backingOffset != 0 || backingSize != 0) {
        if (backingSize == 0 || backingSize > kMaxBackingName || backingOffset > fileSize ||
            backingSize > fileSize - backingOffset) {
            return Error(Code::OperationFailed, "inconsistent qcow2 backing file name");
        }
        // The backing file's format lives in a header extension: qemu-img reads it.
        return std::optional<ImageHeader>();
    }
    return std::optional<ImageHeader>(header);
}

Result<std::optional<ImageHeader>> readImageHeader(int fd, const struct stat& st) {
    std::string bytes(kHeaderBytes, '\0');
    ssize_t n = ::pread(fd, bytes.data(), bytes.size(), 0);
    if (n < 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot read an image header: ") + std::strerror(errno));
    }
    bytes.resize(static_cast<size_t>(n));
    return parseImageHeader(bytes, static_cast<uint64_t>(st.st_size));
}

bool fillFromHeader(VolumeInfo& volume, struct stat& st) {
    int fd = ::open(volume.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return false;
    }
    bool filled = false;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        auto header = readImageHeader(fd, st);
        if (header && header.value()) {
            volume.format = header.value()->format;
            volume.capacity = header.value()->virtualSize;
            volume.allocation = static_cast<uint64_t>(st.st_blocks) * 512;
            volume.backingPath.clear();
            volume.backingFormat.reset();
            filled = true;
        }
    }
    ::close(fd);
    return filled;
}

} // namespace virtswarm::storage
