// SPDX-License-Identifier: LGPL-2.1-or-later
#include "definition_xml.hpp"
#include "virtswarm/storage_def.hpp"
#include "virtswarm/xml.hpp"

#include <charconv>

namespace virtswarm::storage {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}

struct Unit {
    std::string_view name;
    uint64_t factor;
};

// libvirt's virScaleInteger: single letters and "iB" are powers of 1024, "B" suffixes
// powers of 1000.
constexpr uint64_t kKi = 1024;
constexpr uint64_t kK = 1000;
constexpr Unit kUnits[] = {
    {"", 1},
    {"b", 1},
    {"bytes", 1},
    {"KB", kK},
    {"k", kKi},
    {"K", kKi},
    {"KiB", kKi},
    {"MB", kK* kK},
    {"m", kKi* kKi},
    {"M", kKi* kKi},
    {"MiB", kKi* kKi},
    {"GB", kK* kK* kK},
    {"g", kKi* kKi* kKi},
    {"G", kKi* kKi* kKi},
    {"GiB", kKi* kKi* kKi},
    {"TB", kK* kK* kK* kK},
    {"t", kKi* kKi* kKi* kKi},
    {"T", kKi* kKi* kKi* kKi},
    {"TiB", kKi* kKi* kKi* kKi},
    {"PB", kK* kK* kK* kK* kK},
    {"p", kKi* kKi* kKi* kKi* kKi},
    {"P", kKi* kKi* kKi* kKi* kKi},
    {"PiB", kKi* kKi* kKi* kKi* kKi},
    {"EB", kK* kK* kK* kK* kK* kK},
    {"e", kKi* kKi* kKi* kKi* kKi* kKi},
    {"E", kKi* kKi* kKi* kKi* kKi* kKi},
    {"EiB", kKi* kKi* kKi* kKi* kKi* kKi},
};

Result<std::optional<uint64_t>> sizeElement(xml::Node root, const char* element) {
    xml::Node node = xml::firstChild(root, element);
    if (node == nullptr) {
        return std::optional<uint64_t>{};
    }
    auto size = scaledSize(xml::text(node), xml::attribute(node, "unit").value_or(""));
    if (!size) {
        return Error(size.error().code(),
                     "<" + std::string(element) + ">: " + size.error().message());
    }
    return std::optional<uint64_t>{size.value()};
}

void addSize(xml::Node parent, const char* element, uint64_t value) {
    xml::setAttribute(xml::appendChild(parent, element, std::to_string(value)), "unit", "bytes");
}

} // namespace

std::string_view volumeFormatName(VolumeFormat format) {
    return format == VolumeFormat::Qcow2 ? "qcow2" : "raw";
}

Result<VolumeFormat> parseVolumeFormat(std::string_view name) {
    if (name == "raw") {
        return VolumeFormat::Raw;
    }
    if (name == "qcow2") {
        return VolumeFormat::Qcow2;
    }
    return Error(Code::NotSupported, "volume format '" + std::string(name) + "' is not supported");
}

Result<uint64_t> scaledSize(std::string_view number, std::string_view unit) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size()) {
        return invalid("size '" + std::string(number) + "' is not a whole number");
    }
    for (const Unit& u : kUnits) {
        if (u.name == unit) {
            if (value > UINT64_MAX / u.factor) {
                return invalid("size " + std::string(number) + " " + std::string(unit) +
                               " is too large");
            }
            return value * u.factor;
        }
    }
    return invalid("unknown size unit '" + std::string(unit) + "'");
}

Result<VolumeDef> parseVolumeXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, 256 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Node root = parsed.value().root();
    if (xml::name(root) != "volume") {
        return invalid("root element must be <volume>, not <" + std::string(xml::name(root)) + ">");
    }
    VolumeDef def;
    auto name = detail::takeName(root, "volume", kMaxVolumeNameBytes);
    if (!name) {
        return name.takeError();
    }
    def.name = std::move(name).value();
    auto capacity = sizeElement(root, "capacity");
    if (!capacity) {
        return capacity.takeError();
    }
    def.capacity = capacity.value().value_or(0);
    auto allocation = sizeElement(root, "allocation");
    if (!allocation) {
        return allocation.takeError();
    }
    def.allocation = allocation.value();
    if (xml::Node target = xml::firstChild(root, "target")) {
        if (xml::Node format = xml::firstChild(target, "format")) {
            auto f = parseVolumeFormat(xml::attribute(format, "type").value_or(""));
            if (!f) {
                return f.takeError();
            }
            def.format = f.value();
        }
    }
    if (xml::Node backing = xml::firstChild(root, "backingStore")) {
        xml::Node path = xml::firstChild(backing, "path");
        def.backingPath = path != nullptr ? xml::text(path) : "";
        if (def.backingPath.empty() || def.backingPath[0] != '/') {
            return invalid("<backingStore> needs an absolute <path>");
        }
        if (def.format != VolumeFormat::Qcow2) {
            return Error(Code::NotSupported, "only a qcow2 volume can have a backing store");
        }
        if (xml::Node format = xml::firstChild(backing, "format")) {
            auto f = parseVolumeFormat(xml::attribute(format, "type").value_or(""));
            if (!f) {
                return f.takeError();
            }
            def.backingFormat = f.value();
        }
    }
    return def;
}

std::string formatVolumeXml(const VolumeInfo& volume) {
    auto doc = xml::Document::parse("<volume type='file'/>").value();
    xml::Node root = doc.root();
    if (volume.path.starts_with("/dev/")) {
        xml::setAttribute(root, "type", "block");
    }
    xml::appendChild(root, "name", volume.name);
    xml::appendChild(root, "key", volume.path);
    addSize(root, "capacity", volume.capacity);
    addSize(root, "allocation", volume.allocation);
    xml::Node target = xml::appendChild(root, "target");
    xml::appendChild(target, "path", volume.path);
    xml::setAttribute(xml::appendChild(target, "format"), "type",
                      std::string(volumeFormatName(volume.format)));
    if (!volume.backingPath.empty()) {
        xml::Node backing = xml::appendChild(root, "backingStore");
        xml::appendChild(backing, "path", volume.backingPath);
        if (volume.backingFormat) {
            xml::setAttribute(xml::appendChild(backing, "format"), "type",
                              std::string(volumeFormatName(*volume.backingFormat)));
        }
    }
    return doc.serialize();
}

} // namespace virtswarm::storage
