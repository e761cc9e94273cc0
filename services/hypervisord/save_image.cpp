// SPDX-License-Identifier: LGPL-2.1-or-later
#include "save_image.hpp"

#include <array>
#include <byteswap.h>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace virtswarm::hypervisor {
namespace {

constexpr std::string_view kCompleteMagic = "LibvirtQemudSave";
constexpr std::string_view kPartialMagic = "LibvirtQemudPart";
constexpr size_t kMagicSize = 16;
constexpr uint32_t kVersion = 2;
// The u32 fields after the magic, in order; 14 unused ones follow.
enum Field : size_t { Version, DataLength, WasRunning, Compressed, CookieOffset };
constexpr size_t kFieldCount = 5;
static_assert(kMagicSize + 4 * (kFieldCount + 14) == kSaveImageHeaderSize);

using HeaderBytes = std::array<unsigned char, kSaveImageHeaderSize>;

uint32_t field(const HeaderBytes& header, Field which, bool swapped) {
    uint32_t value = 0;
    std::memcpy(&value, header.data() + kMagicSize + 4 * which, sizeof value);
    return swapped ? bswap_32(value) : value;
}

void setField(HeaderBytes& header, Field which, uint32_t value) {
    std::memcpy(header.data() + kMagicSize + 4 * which, &value, sizeof value);
}

Error ioError(const char* what) {
    return Error(Code::OperationFailed, std::string(what) + ": " + std::strerror(errno));
}

Result<void> writeAllAt(int fd, const void* data, size_t size, off_t offset) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    while (size > 0) {
        ssize_t n = ::pwrite(fd, bytes, size, offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return ioError("cannot write the save image");
        }
        bytes += n;
        size -= static_cast<size_t>(n);
        offset += n;
    }
    return success();
}

// Short only at the end of the file.
Result<size_t> readAllAt(int fd, void* data, size_t size, off_t offset) {
    auto* bytes = static_cast<unsigned char*>(data);
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, bytes + done, size - done, offset + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return ioError("cannot read the save image");
        }
        if (n == 0) {
            break;
        }
        done += static_cast<size_t>(n);
    }
    return done;
}

// The header and data area for `xml` in `dataLength` bytes (XML, its NUL, zeros).
Result<std::vector<unsigned char>> layout(const std::string& xml, bool wasRunning,
                                          uint32_t dataLength, std::string_view magic) {
    if (xml.find('\0') != std::string::npos) {
        return Error(Code::InvalidArgs, "the domain XML contains a NUL byte");
    }
    if (xml.size() + 1 > dataLength) {
        return Error(Code::OperationFailed, "new xml too large to fit in file");
    }
    HeaderBytes header{};
    std::memcpy(header.data(), magic.data(), kMagicSize);
    setField(header, Version, kVersion);
    setField(header, DataLength, dataLength);
    setField(header, WasRunning, wasRunning ? 1 : 0);
    std::vector<unsigned char> bytes(kSaveImageHeaderSize + dataLength, 0);
    std::memcpy(bytes.data(), header.data(), header.size());
    std::memcpy(bytes.data() + kSaveImageHeaderSize, xml.data(), xml.size());
    return bytes;
}

} // namespace

Result<void> beginSaveImage(int fd, const std::string& xml, bool wasRunning) {
    if (xml.size() + 1 + kSaveImageXmlSlack > kSaveImageDataMax) {
        return Error(Code::InvalidArgs, "the domain XML is too large for a save image");
    }
    auto bytes = layout(xml, wasRunning, static_cast<uint32_t>(xml.size() + 1 + kSaveImageXmlSlack),
                        kPartialMagic);
    if (!bytes) {
        return bytes.takeError();
    }
    if (::ftruncate(fd, 0) < 0) {
        return ioError("cannot empty the save image");
    }
    if (auto r = writeAllAt(fd, bytes.value().data(), bytes.value().size(), 0); !r) {
        return r;
    }
    // QEMU writes its stream through this descriptor's file offset, after the XML.
    if (::lseek(fd, static_cast<off_t>(bytes.value().size()), SEEK_SET) < 0) {
        return ioError("cannot seek in the save image");
    }
    return success();
}

Result<void> completeSaveImage(int fd) {
    // The descriptor may be write-only (a file opened for the save): the header
    // beginSaveImage wrote is not read back, only its magic replaced.
    if (auto r = writeAllAt(fd, kCompleteMagic.data(), kMagicSize, 0); !r) {
        return r;
    }
    if (::fsync(fd) < 0) {
        return ioError("cannot write the save image to disk");
    }
    return success();
}

bool hasSaveImageHeader(int fd) {
    char start[kMagicSize];
    if (::pread(fd, start, sizeof start, 0) != static_cast<ssize_t>(sizeof start)) {
        return false;
    }
    std::string_view magic(start, sizeof start);
    return magic == kCompleteMagic || magic == kPartialMagic;
}

Result<SaveImage> readSaveImage(int fd) {
    HeaderBytes header{};
    auto read = readAllAt(fd, header.data(), header.size(), 0);
    if (!read) {
        return read.takeError();
    }
    if (read.value() != header.size()) {
        return Error(Code::OperationFailed, "failed to read qemu header");
    }
    std::string_view magic(reinterpret_cast<const char*>(header.data()), kMagicSize);
    if (magic == kPartialMagic) {
        return Error(Code::OperationFailed, "save image is incomplete");
    }
    if (magic != kCompleteMagic) {
        return Error(Code::OperationFailed, "image magic is incorrect");
    }
    SaveImage image;
    // libvirt reads a version beyond its own as the other byte order.
    image.swapped = field(header, Version, false) > kVersion;
    uint32_t version = field(header, Version, image.swapped);
    if (version > kVersion) {
        return Error(Code::OperationFailed, "image version is not supported (" +
                                                std::to_string(version) + " > " +
                                                std::to_string(kVersion) + ")");
    }
    if (uint32_t compressed = field(header, Compressed, image.swapped); compressed != 0) {
        return Error(Code::ConfigUnsupported, "compressed save images (format " +
                                                  std::to_string(compressed) +
                                                  ") are not supported; only raw images are");
    }
    image.dataLength = field(header, DataLength, image.swapped);
    image.cookieOffset = field(header, CookieOffset, image.swapped);
    image.wasRunning = field(header, WasRunning, image.swapped) != 0;
    if (image.dataLength == 0 || image.dataLength > kSaveImageDataMax) {
        return Error(Code::OperationFailed,
                     "invalid header data length: " + std::to_string(image.dataLength));
    }
    if (image.cookieOffset > image.dataLength) {
        return Error(Code::OperationFailed,
                     "invalid header cookie offset: " + std::to_string(image.cookieOffset));
    }
    size_t xmlArea = image.cookieOffset != 0 ? image.cookieOffset : image.dataLength;
    std::string area(xmlArea, '\0');
    read = readAllAt(fd, area.data(), area.size(), kSaveImageHeaderSize);
    if (!read) {
        return read.takeError();
    }
    if (read.value() != area.size()) {
        return Error(Code::OperationFailed, "failed to read domain XML");
    }
    size_t end = area.find('\0');
    if (end == std::string::npos) {
        return Error(Code::OperationFailed, "the domain XML in the save image is not terminated");
    }
    area.resize(end);
    image.xml = std::move(area);
    if (::lseek(fd, static_cast<off_t>(kSaveImageHeaderSize + image.dataLength), SEEK_SET) < 0) {
        return ioError("cannot seek in the save image");
    }
    return image;
}

Result<void> rewriteSaveImage(int fd, const SaveImage& image, const std::string& xml,
                              bool wasRunning) {
    if (image.swapped || image.cookieOffset != 0) {
        return Error(Code::ConfigUnsupported,
                     "this save image (another byte order, or with libvirt's cookie) cannot "
                     "be rewritten here");
    }
    auto bytes = layout(xml, wasRunning, image.dataLength, kCompleteMagic);
    if (!bytes) {
        return bytes.takeError();
    }
    // In place, as libvirt does: the stream after the area is gigabytes, too much to copy
    // for an atomic replacement. The magic stays "complete" throughout.
    if (auto r = writeAllAt(fd, bytes.value().data(), bytes.value().size(), 0); !r) {
        return r;
    }
    if (::fsync(fd) < 0) {
        return ioError("cannot write the save image to disk");
    }
    return success();
}

} // namespace virtswarm::hypervisor
