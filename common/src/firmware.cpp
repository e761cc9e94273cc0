// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/firmware.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm {
namespace {

bool contains(const nlohmann::json& list, const char* value) {
    return list.is_array() && std::find(list.begin(), list.end(), value) != list.end();
}

std::optional<FirmwareImage> readDescriptor(const std::string& path) {
    auto text = readFile(path, 1 << 20);
    if (!text) {
        return std::nullopt;
    }
    auto j = nlohmann::json::parse(text.value(), nullptr, false);
    if (j.is_discarded() || !contains(j.value("interface-types", nlohmann::json()), "uefi")) {
        return std::nullopt;
    }
    const auto& mapping = j.value("mapping", nlohmann::json::object());
    if (mapping.value("device", "") != "flash" || !mapping.contains("executable")) {
        return std::nullopt;
    }
    FirmwareImage image;
    image.descriptor = path;
    image.code = mapping["executable"].value("filename", "");
    if (mapping.contains("nvram-template")) {
        image.varsTemplate = mapping["nvram-template"].value("filename", "");
    }
    if (mapping["executable"].value("format", "raw") != "raw" || image.code.empty()) {
        return std::nullopt;
    }
    for (const auto& target : j.value("targets", nlohmann::json::array())) {
        if (target.value("architecture", "") == "x86_64") {
            for (const auto& m : target.value("machines", nlohmann::json::array())) {
                if (m.is_string()) {
                    image.machines.push_back(m.get<std::string>());
                }
            }
        }
    }
    if (image.machines.empty()) {
        return std::nullopt;
    }
    const auto& features = j.value("features", nlohmann::json::array());
    image.secureBoot = contains(features, "secure-boot");
    image.requiresSmm = contains(features, "requires-smm");
    image.enrolledKeys = contains(features, "enrolled-keys");
    return image;
}

// The descriptors name versioned machine types; "q35" and "pc" are QEMU's aliases of
// the newest of them, which every pattern that matches a version also matches.
std::string canonicalMachine(const std::string& machine) {
    if (machine == "q35") {
        return "pc-q35-99.0";
    }
    if (machine.empty() || machine == "pc") {
        return "pc-i440fx-99.0";
    }
    return machine;
}

bool fitsMachine(const FirmwareImage& image, const std::string& machine) {
    std::string m = canonicalMachine(machine);
    return std::any_of(image.machines.begin(), image.machines.end(),
                       [&](const std::string& p) { return fnmatch(p.c_str(), m.c_str(), 0) == 0; });
}

Result<void> copyFile(const std::string& from, const std::string& to) {
    auto content = readFile(from, 64 << 20);
    if (!content) {
        return content.takeError();
    }
    return writeFileAtomic(to, content.value(), 0600);
}

} // namespace

std::vector<FirmwareImage> firmwareImages(const std::vector<std::string>& dirs) {
    std::map<std::string, std::string> byName; // file name -> path: sorted, first dir wins
    for (const auto& dir : dirs) {
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            continue;
        }
        while (const dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) {
                byName.emplace(name, dir + "/" + name);
            }
        }
        ::closedir(d);
    }
    std::vector<FirmwareImage> images;
    for (const auto& [name, path] : byName) {
        if (auto image = readDescriptor(path)) {
            images.push_back(std::move(*image));
        }
    }
    return images;
}

Result<FirmwareImage> selectFirmware(const DomainDef& def,
                                     const std::vector<FirmwareImage>& images) {
    const FirmwareDef& fw = def.platform.firmware;
    for (const auto& image : images) {
        if (!fitsMachine(image, def.machine)) {
            continue;
        }
        if (fw.secureBoot.has_value() && *fw.secureBoot != image.secureBoot) {
            continue;
        }
        if (image.requiresSmm && def.platform.smm == false) {
            continue;
        }
        return image;
    }
    std::string machine = def.machine.empty() ? "pc" : def.machine;
    return Error(Code::NotSupported,
                 "<os firmware='efi'>: no UEFI firmware for machine '" + machine + "'" +
                     (fw.secureBoot
                          ? (*fw.secureBoot ? " with" : " without") + std::string(" secure boot")
                          : "") +
                     " in the QEMU firmware descriptors (install the 'ovmf' package)");
}

Result<void> resolveFirmware(DomainDef& def, const std::string& nvramDir,
                             const std::vector<FirmwareImage>& images) {
    FirmwareDef& fw = def.platform.firmware;
    if (!fw.efi) {
        return success();
    }
    bool secure = fw.secureBoot.value_or(false);
    if (fw.autoSelect) {
        auto image = selectFirmware(def, images);
        if (!image) {
            return image.takeError();
        }
        fw.loader = image.value().code;
        fw.loaderType = "pflash";
        if (fw.nvramTemplate.empty()) {
            fw.nvramTemplate = image.value().varsTemplate;
        }
        secure = image.value().requiresSmm;
    } else if (fw.nvramTemplate.empty()) {
        // An explicit loader: its template is the one its descriptor pairs it with.
        for (const auto& image : images) {
            if (image.code == fw.loader) {
                fw.nvramTemplate = image.varsTemplate;
                break;
            }
        }
    }
    // libvirt's secure='yes' is the flash's SMM protection, which needs SMM on.
    fw.secureBoot = secure;
    if (secure) {
        def.platform.smm = true;
    }
    if (fw.nvram.empty()) {
        fw.nvram = nvramPathOf(def, nvramDir);
        fw.nvramInStateDir = true;
    }
    return success();
}

std::string nvramPathOf(const DomainDef& def, const std::string& nvramDir) {
    const FirmwareDef& fw = def.platform.firmware;
    if (!fw.nvram.empty() || !fw.efi) {
        return fw.nvram;
    }
    return nvramDir + "/" + def.name + "_VARS.fd";
}

Result<void> ensureNvram(const FirmwareDef& fw) {
    if (!fw.efi || fw.nvram.empty()) {
        return success();
    }
    struct stat st {};
    if (::stat(fw.nvram.c_str(), &st) == 0) {
        return success(); // kept from an earlier boot
    }
    if (fw.nvramTemplate.empty()) {
        return Error(Code::NotSupported, "<nvram>: no template known for loader '" + fw.loader +
                                             "' and no " + fw.nvram +
                                             " yet (give <nvram template=...>)");
    }
    auto slash = fw.nvram.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        if (auto r = makeDirectories(fw.nvram.substr(0, slash), 0755); !r) {
            return r;
        }
    }
    if (auto r = copyFile(fw.nvramTemplate, fw.nvram); !r) {
        return Error(Code::OperationFailed,
                     "cannot create the NVRAM file " + fw.nvram + ": " + r.error().message());
    }
    return success();
}

std::string withResolvedFirmware(const std::string& text, const FirmwareDef& fw) {
    auto parsed = xml::Document::parse(text);
    if (!parsed || !fw.efi) {
        return text;
    }
    xml::Node os = xml::firstChild(parsed.value().root(), "os");
    if (os == nullptr) {
        return text;
    }
    for (const char* name : {"loader", "nvram"}) {
        if (auto old = xml::firstChild(os, name)) {
            xml::removeNode(old);
        }
    }
    // libvirt's order: <type>, <firmware>, <loader>, <nvram>, then the rest.
    xml::Node after = xml::firstChild(os, "firmware");
    if (after == nullptr) {
        after = xml::firstChild(os, "type");
    }
    xml::Node loader = after != nullptr ? xml::insertAfter(after, "loader", fw.loader)
                                        : xml::prependChild(os, "loader", fw.loader);
    xml::setAttribute(loader, "readonly", "yes");
    xml::setAttribute(loader, "secure", fw.secureBoot.value_or(false) ? "yes" : "no");
    xml::setAttribute(loader, "type", "pflash");
    xml::Node nvram = xml::insertAfter(loader, "nvram", fw.nvram);
    if (!fw.nvramTemplate.empty()) {
        xml::setAttribute(nvram, "template", fw.nvramTemplate);
    }
    return parsed.value().serialize();
}

} // namespace virtswarm
