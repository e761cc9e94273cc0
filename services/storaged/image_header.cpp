// SPDX-License-Identifier: LGPL-2.1-or-later
#include "image_header.hpp"

#include "virtswarm/qcow2_header.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::storage {
namespace {

constexpr size_t kHeaderBytes = 512;

uint32_t be32(const std::string& b, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
        v = (v << 8) | static_cast<uint8_t>(b[at + i]);
    }
    return v;
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

Result<std::optional<ImageHeader>> readImageHeader(int fd, const struct stat& st) {
    auto qcow2 = readQcow2Header(fd);
    if (!qcow2) {
        return qcow2.takeError();
    }
    ImageHeader header;
    if (const auto& q = qcow2.value()) {
        if (q->version != 2 && q->version != 3) {
            return std::optional<ImageHeader>();
        }
        header.format = VolumeFormat::Qcow2;
        header.virtualSize = q->virtualSize;
        if (q->backing) {
            auto format = parseVolumeFormat(q->backing->format);
            if (!format) {
                return std::optional<ImageHeader>(); // unrecorded or another format
            }
            header.backingFile = q->backing->file;
            header.backingFormat = format.value();
        }
        return std::optional<ImageHeader>(header);
    }
    std::string bytes(kHeaderBytes, '\0');
    ssize_t n = ::pread(fd, bytes.data(), bytes.size(), 0);
    if (n < 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot read an image header: ") + std::strerror(errno));
    }
    bytes.resize(static_cast<size_t>(n));
    if (otherFormatMagic(bytes)) {
        return std::optional<ImageHeader>();
    }
    header.format = VolumeFormat::Raw;
    header.virtualSize = static_cast<uint64_t>(st.st_size);
    return std::optional<ImageHeader>(header);
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
            const std::string& backing = header.value()->backingFile;
            // qemu-img's "full-backing-filename": a relative name from the image's directory.
            volume.backingPath = backing.empty() || backing[0] == '/'
                                     ? backing
                                     : volume.path.substr(0, volume.path.rfind('/') + 1) + backing;
            volume.backingFormat = header.value()->backingFormat;
            filled = true;
        }
    }
    ::close(fd);
    return filled;
}

} // namespace virtswarm::storage
