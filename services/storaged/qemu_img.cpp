// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_img.hpp"

#include "tools.hpp"

#include <nlohmann/json.hpp>

namespace virtswarm::storage::qemu_img {

std::vector<std::string> infoArgv(const std::string& path) {
    // --force-share: a volume a running guest holds is still described, not refused.
    return {tools::kQemuImg, "info", "--output=json", "--force-share", path};
}

Result<void> parseInfo(std::string_view text, VolumeInfo& into) {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("virtual-size") ||
        !json["virtual-size"].is_number_unsigned()) {
        return Error(Code::OperationFailed, "qemu-img info gave no virtual size for " + into.path);
    }
    into.capacity = json["virtual-size"].get<uint64_t>();
    into.allocation = json.value("actual-size", uint64_t{0});
    auto format = parseVolumeFormat(json.value("format", std::string{}));
    // A volume of another format (vmdk, ...) is still listed, shown as raw bytes.
    into.format = format ? format.value() : VolumeFormat::Raw;
    into.backingPath = json.value("full-backing-filename", json.value("backing-filename", ""));
    into.backingFormat.reset();
    if (json.contains("backing-filename-format")) {
        auto backing = parseVolumeFormat(json["backing-filename-format"].get<std::string>());
        if (backing) {
            into.backingFormat = backing.value();
        }
    }
    return success();
}

std::vector<std::string> createArgv(const VolumeDef& def, const std::string& path) {
    std::vector<std::string> argv{tools::kQemuImg, "create", "-q", "-f",
                                  std::string(volumeFormatName(def.format))};
    if (!def.backingPath.empty()) {
        // -u: the backing file is not opened (storaged is root; resolveBackingStore read
        // it as the caller and gave the format and the size).
        argv.insert(argv.end(),
                    {"-b", def.backingPath, "-F",
                     std::string(volumeFormatName(def.backingFormat.value_or(VolumeFormat::Raw))),
                     "-u"});
    }
    // Sparse unless the definition asks for all of it up front.
    if (def.allocation && *def.allocation >= def.capacity && def.capacity > 0) {
        argv.insert(argv.end(), {"-o", "preallocation=falloc"});
    }
    argv.push_back(path);
    argv.push_back(std::to_string(def.capacity));
    return argv;
}

std::vector<std::string> convertArgv(const VolumeInfo& source, VolumeFormat targetFormat,
                                     const std::string& target, bool targetExists) {
    std::vector<std::string> argv{tools::kQemuImg,
                                  "convert",
                                  "-p",
                                  "--force-share",
                                  "-f",
                                  std::string(volumeFormatName(source.format)),
                                  "-O",
                                  std::string(volumeFormatName(targetFormat))};
    if (targetExists) {
        argv.push_back("-n");
    }
    argv.push_back(source.path);
    argv.push_back(target);
    return argv;
}

std::vector<std::string> resizeArgv(const VolumeInfo& volume, uint64_t capacity) {
    std::vector<std::string> argv{tools::kQemuImg, "resize", "-q", "-f",
                                  std::string(volumeFormatName(volume.format))};
    if (capacity < volume.capacity) {
        argv.push_back("--shrink");
    }
    argv.push_back(volume.path);
    argv.push_back(std::to_string(capacity));
    return argv;
}

} // namespace virtswarm::storage::qemu_img
