// SPDX-License-Identifier: LGPL-2.1-or-later
#include "definition_xml.hpp"
#include "virtswarm/storage_def.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>

namespace virtswarm::storage {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}

// Paths in a pool definition reach mount, mkfs and vgcreate: absolute, no "..", no
// control characters, so a definition cannot point a tool somewhere its text hides.
Result<std::string> checkedPath(const std::string& path, std::string_view what) {
    if (path.empty() || path[0] != '/') {
        return invalid(std::string(what) + " '" + path + "' is not an absolute path");
    }
    if (path.find("/../") != std::string::npos || path.ends_with("/..")) {
        return invalid(std::string(what) + " '" + path + "' contains '..'");
    }
    for (unsigned char c : path) {
        if (c < 0x20 || c == 0x7f) {
            return invalid(std::string(what) + " contains a control character");
        }
    }
    std::string out = path;
    while (out.size() > 1 && out.back() == '/') {
        out.pop_back();
    }
    return out;
}

Result<PoolType> poolType(const std::string& type) {
    if (type == "dir") {
        return PoolType::Dir;
    }
    if (type == "fs") {
        return PoolType::Fs;
    }
    if (type == "logical") {
        return PoolType::Logical;
    }
    if (type.empty()) {
        return invalid("<pool> has no type attribute");
    }
    return Error(Code::NotSupported, "storage pool type '" + type + "' is not supported");
}

Result<void> parseSource(xml::Node root, PoolDef& def) {
    xml::Node source = xml::firstChild(root, "source");
    if (source != nullptr) {
        for (xml::Node device : xml::children(source, "device")) {
            auto path = checkedPath(xml::attribute(device, "path").value_or(""), "source device");
            if (!path) {
                return path.takeError();
            }
            def.sourceDevices.push_back(path.value());
        }
        if (xml::Node name = xml::firstChild(source, "name")) {
            def.sourceName = xml::text(name);
        }
        if (xml::Node format = xml::firstChild(source, "format")) {
            def.sourceFormat = xml::attribute(format, "type").value_or("");
        }
    }
    if (def.type == PoolType::Fs && def.sourceDevices.size() != 1) {
        return invalid("an fs pool needs exactly one <source><device path='...'/>");
    }
    if (def.type == PoolType::Fs) {
        if (def.sourceFormat.empty()) {
            def.sourceFormat = "auto";
        }
        auto formats = fsSourceFormats();
        if (std::find(formats.begin(), formats.end(), def.sourceFormat) == formats.end()) {
            return Error(Code::NotSupported,
                         "file system format '" + def.sourceFormat + "' is not supported");
        }
    }
    if (def.type == PoolType::Logical) {
        if (def.sourceName.empty()) {
            def.sourceName = def.name;
        }
        // A volume group name is a path element under /dev and an lvm argument.
        if (def.sourceName.find_first_of("/ ") != std::string::npos || def.sourceName[0] == '-' ||
            def.sourceName[0] == '.') {
            return invalid("volume group name '" + def.sourceName + "' is not valid");
        }
    }
    return success();
}

} // namespace

std::span<const std::string_view> fsSourceFormats() {
    static constexpr std::string_view kFormats[] = {"auto", "ext2", "ext3", "ext4",
                                                    "xfs",  "vfat", "btrfs"};
    return kFormats;
}

std::string_view poolTypeName(PoolType type) {
    switch (type) {
    case PoolType::Dir:
        return "dir";
    case PoolType::Fs:
        return "fs";
    case PoolType::Logical:
        return "logical";
    }
    return "dir";
}

Result<PoolXml> parsePoolXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, 1024 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Document doc = std::move(parsed).value();
    xml::Node root = doc.root();
    if (xml::name(root) != "pool") {
        return invalid("root element must be <pool>, not <" + std::string(xml::name(root)) + ">");
    }
    PoolDef def;
    auto type = poolType(xml::attribute(root, "type").value_or(""));
    if (!type) {
        return type.takeError();
    }
    def.type = type.value();
    auto name = detail::takeName(root, "pool", kMaxPoolNameBytes);
    if (!name) {
        return name.takeError();
    }
    def.name = std::move(name).value();
    auto uuid = detail::takeOrAddUuid(root, xml::firstChild(root, "name"));
    if (!uuid) {
        return uuid.takeError();
    }
    def.uuid = uuid.value();
    if (auto r = parseSource(root, def); !r) {
        return r.takeError();
    }
    xml::Node target = xml::firstChild(root, "target");
    xml::Node path = target != nullptr ? xml::firstChild(target, "path") : nullptr;
    if (path == nullptr && def.type == PoolType::Logical) {
        // libvirt's logical pools live at /dev/<vg>; the target may be left out.
        target = target != nullptr ? target : xml::appendChild(root, "target");
        path = xml::appendChild(target, "path", "/dev/" + def.sourceName);
    }
    if (path == nullptr) {
        return invalid("a " + std::string(poolTypeName(def.type)) +
                       " pool needs <target><path>...</path></target>");
    }
    auto targetPath = checkedPath(xml::text(path), "target path");
    if (!targetPath) {
        return targetPath.takeError();
    }
    def.targetPath = targetPath.value();
    if (def.targetPath == "/") {
        return invalid("the target path of a pool cannot be '/'");
    }
    if (def.type == PoolType::Logical && def.targetPath != "/dev/" + def.sourceName) {
        return invalid("a logical pool's target must be /dev/" + def.sourceName);
    }
    return PoolXml{std::move(def), doc.serialize()};
}

Result<std::string> poolXmlWithSizes(const std::string& text, const PoolSizes& sizes) {
    auto parsed = xml::Document::parse(text, 1024 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Node root = parsed.value().root();
    for (const char* element : {"capacity", "allocation", "available"}) {
        for (xml::Node old : xml::children(root, element)) {
            xml::removeNode(old);
        }
    }
    // libvirt prints them right after <uuid>, in this order.
    xml::Node anchor = xml::firstChild(root, "uuid");
    for (auto [element, value] : {std::pair{"capacity", sizes.capacity},
                                  {"allocation", sizes.allocation},
                                  {"available", sizes.available}}) {
        anchor = xml::insertAfter(anchor, element, std::to_string(value));
        xml::setAttribute(anchor, "unit", "bytes");
    }
    return parsed.value().serialize();
}

} // namespace virtswarm::storage
