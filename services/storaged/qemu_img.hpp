// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/storage_def.hpp"

#include <string>
#include <string_view>
#include <vector>

// Command lines for qemu-img and the reading of its answers.
namespace virtswarm::storage::qemu_img {

std::vector<std::string> infoArgv(const std::string& path);
// Fills format, capacity, allocation and the backing file from `qemu-img info
// --output=json`.
Result<void> parseInfo(std::string_view json, VolumeInfo& into);

std::vector<std::string> createArgv(const VolumeDef& def, const std::string& path);
// -p progress on stdout; -n writes into an existing target (a block device).
std::vector<std::string> convertArgv(const VolumeInfo& source, VolumeFormat targetFormat,
                                     const std::string& target, bool targetExists);
std::vector<std::string> resizeArgv(const VolumeInfo& volume, uint64_t capacity);

} // namespace virtswarm::storage::qemu_img
