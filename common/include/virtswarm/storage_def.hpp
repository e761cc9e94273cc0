// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// libvirt's storage pool and volume XML: the parts virtswarm-storaged acts on. The XML
// stays the definition of record; other elements are kept as written.
namespace virtswarm::storage {

// Pool and volume names become file names (a pool's definition, a volume's image), so
// they follow the definition-name rules: no '/', no "..", no leading '.' or '-'.
inline constexpr size_t kMaxPoolNameBytes = 128;
inline constexpr size_t kMaxVolumeNameBytes = 255;

enum class PoolType { Dir, Fs, Logical };

std::string_view poolTypeName(PoolType type);
// The file systems an fs pool can be made of (<source><format type=...>).
std::span<const std::string_view> fsSourceFormats();
// libvirt's <storagepoolCapabilities> (virConnectGetStoragePoolCapabilities): which pool
// types storaged serves, with their source and volume formats; the others supported='no'.
std::string formatPoolCapabilities();

struct PoolDef {
    std::string name;
    UuidBytes uuid{};
    PoolType type = PoolType::Dir;
    // dir: the directory; fs: the mount point; logical: /dev/<volume group>.
    std::string targetPath;
    // fs: the one block device or image file mounted; logical: the physical volumes.
    std::vector<std::string> sourceDevices;
    // logical: the volume group's name (the pool's name when not given).
    std::string sourceName;
    // fs: the file system type ("auto" mounts whatever is there; Build makes ext4).
    std::string sourceFormat;
};

struct PoolXml {
    PoolDef def;
    std::string xml;
};

// Errors: InvalidXML (malformed, missing name/target/source, a relative path),
// NotSupported naming the pool type for every type but dir, fs and logical. A missing UUID
// is generated and written into the XML.
Result<PoolXml> parsePoolXml(std::string_view text);

struct PoolSizes {
    uint64_t capacity = 0;
    uint64_t allocation = 0;
    uint64_t available = 0;
};

// The definition with libvirt's <capacity>, <allocation> and <available> (bytes) of a
// running pool, as `virsh pool-dumpxml` shows them.
Result<std::string> poolXmlWithSizes(const std::string& xml, const PoolSizes& sizes);

enum class VolumeFormat { Raw, Qcow2 };

std::string_view volumeFormatName(VolumeFormat format);
Result<VolumeFormat> parseVolumeFormat(std::string_view name);

struct VolumeDef {
    std::string name;
    uint64_t capacity = 0;
    // Bytes to allocate up front; absent means as little as the format needs (sparse).
    std::optional<uint64_t> allocation;
    VolumeFormat format = VolumeFormat::Raw;
    // A qcow2 volume's backing file (an absolute path) and its format.
    std::string backingPath;
    std::optional<VolumeFormat> backingFormat;
};

// Errors: InvalidXML (malformed, a bad name, a size that is not a number or overflows),
// NotSupported (a format other than raw and qcow2, a backing store on a raw volume).
// A volume cloned from another may leave <capacity> out (then 0: the source's size).
Result<VolumeDef> parseVolumeXml(std::string_view text);

// libvirt's scaled integers: a number and a unit ("b", "bytes", "KB" = 1000, "K"/"KiB" =
// 1024, ... up to "E"/"EiB"); absent unit means bytes. Overflow is InvalidXML.
Result<uint64_t> scaledSize(std::string_view number, std::string_view unit);

// What `virsh vol-dumpxml` shows of one volume.
struct VolumeInfo {
    std::string name;
    std::string path; // also the volume's key, as for libvirt's file volumes
    VolumeFormat format = VolumeFormat::Raw;
    uint64_t capacity = 0;
    uint64_t allocation = 0;
    std::string backingPath;
    std::optional<VolumeFormat> backingFormat;
};

std::string formatVolumeXml(const VolumeInfo& volume);

} // namespace virtswarm::storage
