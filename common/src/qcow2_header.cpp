// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/qcow2_header.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace virtswarm {
namespace {

constexpr uint8_t kQcow2Magic[4] = {'Q', 'F', 'I', 0xfb};
constexpr size_t kVersion2HeaderLength = 72;
constexpr size_t kVersion3HeaderLength = 104;
constexpr uint32_t kBackingFormatExtension = 0xE2792ACA;
// QEMU's own limits: a backing name of at most 1023 bytes, a format name of at most 15,
// clusters of 512 bytes to 2 MiB (the header and its extensions live in the first).
constexpr uint32_t kMaxBackingNameLength = 1023;
constexpr uint32_t kMaxFormatNameLength = 15;
constexpr uint32_t kMinClusterBits = 9;
constexpr uint32_t kMaxClusterBits = 21;

Error corrupt(const std::string& why) {
    return Error(Code::InvalidArgs, "not a valid qcow2 image: " + why);
}

uint64_t bigEndian(const uint8_t* bytes, size_t count) {
    uint64_t value = 0;
    for (size_t i = 0; i < count; ++i) {
        value = value << 8 | bytes[i];
    }
    return value;
}

// Exactly `length` bytes at `offset`, or an error (a short file is a corrupt header).
Result<void> readAt(int fd, uint64_t offset, void* into, size_t length) {
    auto* out = static_cast<uint8_t*>(into);
    size_t done = 0;
    while (done < length) {
        ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return Error(Code::OperationFailed,
                         std::string("cannot read the image header: ") + std::strerror(errno));
        }
        if (n == 0) {
            return corrupt("the header ends early");
        }
        done += static_cast<size_t>(n);
    }
    return success();
}

// The backing format extension, searched between `from` and `end`.
Result<std::string> backingFormatExtension(int fd, uint64_t from, uint64_t end) {
    uint64_t at = from;
    while (at + 8 <= end) {
        uint8_t head[8] = {};
        if (auto r = readAt(fd, at, head, sizeof head); !r) {
            return r.takeError();
        }
        uint32_t type = static_cast<uint32_t>(bigEndian(head, 4));
        uint64_t length = bigEndian(head + 4, 4);
        if (type == 0) {
            break;
        }
        if (at + 8 + length > end) {
            return corrupt("a header extension runs past the header");
        }
        if (type == kBackingFormatExtension) {
            if (length > kMaxFormatNameLength) {
                return corrupt("the backing format name is too long");
            }
            std::string format(length, '\0');
            if (auto r = readAt(fd, at + 8, format.data(), length); !r) {
                return r.takeError();
            }
            return format;
        }
        at += 8 + ((length + 7) & ~uint64_t{7});
    }
    return std::string();
}

} // namespace

Result<std::optional<Qcow2Header>> readQcow2Header(int fd) {
    uint8_t header[kVersion3HeaderLength] = {};
    uint8_t magic[4] = {};
    if (auto r = readAt(fd, 0, magic, sizeof magic); !r) {
        if (r.error().code() == Code::InvalidArgs) {
            return std::optional<Qcow2Header>(); // shorter than a magic: not qcow2
        }
        return r.takeError();
    }
    if (std::memcmp(magic, kQcow2Magic, 4) != 0) {
        return std::optional<Qcow2Header>();
    }
    if (auto r = readAt(fd, 0, header, kVersion2HeaderLength); !r) {
        return r.takeError();
    }
    Qcow2Header parsed;
    parsed.version = static_cast<uint32_t>(bigEndian(header + 4, 4));
    if (parsed.version != 2 && parsed.version != 3) {
        return std::optional<Qcow2Header>(parsed);
    }
    uint64_t backingOffset = bigEndian(header + 8, 8);
    uint64_t backingLength = bigEndian(header + 16, 4);
    uint64_t clusterBits = bigEndian(header + 20, 4);
    parsed.virtualSize = bigEndian(header + 24, 8);
    if (clusterBits < kMinClusterBits || clusterBits > kMaxClusterBits) {
        return corrupt("cluster bits " + std::to_string(clusterBits));
    }
    uint64_t clusterSize = uint64_t{1} << clusterBits;
    uint64_t headerLength = kVersion2HeaderLength;
    if (parsed.version == 3) {
        if (auto r = readAt(fd, kVersion2HeaderLength, header + kVersion2HeaderLength,
                            kVersion3HeaderLength - kVersion2HeaderLength);
            !r) {
            return r.takeError();
        }
        headerLength = bigEndian(header + 100, 4);
        if (headerLength < kVersion3HeaderLength || headerLength % 8 != 0 ||
            headerLength > clusterSize) {
            return corrupt("header length " + std::to_string(headerLength));
        }
    }
    if (backingOffset == 0 && backingLength == 0) {
        return std::optional<Qcow2Header>(parsed);
    }
    if (backingLength == 0 || backingLength > kMaxBackingNameLength ||
        backingOffset < headerLength || backingOffset > clusterSize ||
        backingLength > clusterSize - backingOffset) {
        return corrupt("the backing file name lies outside the header");
    }
    Qcow2Backing backing;
    backing.file.resize(backingLength);
    if (auto r = readAt(fd, backingOffset, backing.file.data(), backingLength); !r) {
        return r.takeError();
    }
    if (backing.file.find('\0') != std::string::npos) {
        return corrupt("the backing file name holds a NUL byte");
    }
    auto format = backingFormatExtension(fd, headerLength, backingOffset);
    if (!format) {
        return format.takeError();
    }
    backing.format = format.value();
    parsed.backing = std::move(backing);
    return std::optional<Qcow2Header>(std::move(parsed));
}

} // namespace virtswarm
