// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/snapshot_def.hpp"

#include "virtswarm/xml.hpp"

#include <algorithm>
#include <charconv>

namespace virtswarm {
namespace {

// Far above any real snapshot request; the stored form carries a whole domain.
constexpr size_t kMaxRequestBytes = 64 * 1024;
constexpr size_t kMaxStoredBytes = 4 * 1024 * 1024;
constexpr size_t kMaxNameBytes = 255;

// An external disk's overlay: a qcow2 file at an absolute path (or none: the default).
Result<void> parseOverlay(xml::Node node, SnapshotDisk& disk) {
    std::string type = xml::attribute(node, "type").value_or("file");
    xml::Node driver = xml::firstChild(node, "driver");
    std::string format =
        driver == nullptr ? "qcow2" : xml::attribute(driver, "type").value_or("qcow2");
    if (type != "file" || format != "qcow2") {
        return Error(Code::ConfigUnsupported, "disk '" + disk.name +
                                                  "': external snapshots are qcow2 files, not " +
                                                  (type != "file" ? type : format));
    }
    if (xml::Node source = xml::firstChild(node, "source")) {
        disk.source = xml::attribute(source, "file").value_or("");
        if (disk.source.empty() || disk.source.front() != '/') {
            return Error(Code::InvalidXML, "disk '" + disk.name +
                                               "': an external snapshot's file must be an "
                                               "absolute path");
        }
    }
    return success();
}

Result<std::vector<SnapshotDisk>> parseDisks(xml::Node root) {
    std::vector<SnapshotDisk> disks;
    xml::Node list = xml::firstChild(root, "disks");
    if (list == nullptr) {
        return disks;
    }
    for (xml::Node node : xml::children(list, "disk")) {
        SnapshotDisk disk{xml::attribute(node, "name").value_or(""),
                          xml::attribute(node, "snapshot").value_or("internal"), ""};
        if (disk.name.empty()) {
            return Error(Code::InvalidXML, "a snapshot <disk> needs a name");
        }
        if (disk.snapshot == "manual") {
            return Error(Code::ConfigUnsupported,
                         "disk '" + disk.name + "': manual snapshots are not supported");
        }
        if (disk.snapshot != "internal" && disk.snapshot != "external" && disk.snapshot != "no") {
            return Error(Code::InvalidXML,
                         "disk '" + disk.name + "': unknown snapshot type '" + disk.snapshot + "'");
        }
        if (disk.snapshot == "external") {
            if (auto r = parseOverlay(node, disk); !r) {
                return r.takeError();
            }
        }
        for (const auto& other : disks) {
            if (other.name == disk.name) {
                return Error(Code::InvalidXML,
                             "disk '" + disk.name + "' is named twice in the snapshot");
            }
        }
        disks.push_back(std::move(disk));
    }
    return disks;
}

Result<xml::Document> parseRoot(std::string_view text, size_t maxBytes) {
    auto doc = xml::Document::parse(text, maxBytes);
    if (!doc) {
        return doc.takeError();
    }
    if (xml::name(doc.value().root()) != "domainsnapshot") {
        return Error(Code::InvalidXML, "a snapshot's root element must be <domainsnapshot>");
    }
    return doc;
}

std::string childText(xml::Node root, const char* element) {
    xml::Node node = xml::firstChild(root, element);
    return node == nullptr ? std::string() : xml::text(node);
}

} // namespace

Result<void> checkSnapshotName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameBytes) {
        return Error(Code::InvalidXML, "a snapshot name is 1 to 255 bytes long");
    }
    for (char c : name) {
        if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return Error(Code::InvalidXML, "invalid snapshot name '" + std::string(name) +
                                               "': no '/' and no control characters");
        }
    }
    return success();
}

bool isExternal(const SnapshotDef& def) {
    return std::any_of(def.disks.begin(), def.disks.end(),
                       [](const SnapshotDisk& d) { return d.snapshot == "external"; });
}

Result<SnapshotRequest> parseSnapshotRequest(std::string_view text) {
    auto doc = parseRoot(text, kMaxRequestBytes);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node root = doc.value().root();
    SnapshotRequest request;
    request.name = childText(root, "name");
    if (xml::firstChild(root, "name") != nullptr) {
        if (auto r = checkSnapshotName(request.name); !r) {
            return r.takeError();
        }
    }
    request.description = childText(root, "description");
    if (xml::Node memory = xml::firstChild(root, "memory")) {
        std::string kind = xml::attribute(memory, "snapshot").value_or("");
        if (kind == "external" || xml::attribute(memory, "file")) {
            return Error(Code::ConfigUnsupported,
                         "external memory snapshots are not supported; only internal ones");
        }
        if (kind != "no" && kind != "internal") {
            return Error(Code::InvalidXML, "unknown memory snapshot type '" + kind + "'");
        }
        request.memory = kind;
    }
    auto disks = parseDisks(root);
    if (!disks) {
        return disks.takeError();
    }
    request.disks = std::move(disks.value());
    return request;
}

Result<SnapshotDef> parseSnapshotDef(std::string_view text) {
    auto doc = parseRoot(text, kMaxStoredBytes);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node root = doc.value().root();
    SnapshotDef def;
    def.name = childText(root, "name");
    if (auto r = checkSnapshotName(def.name); !r) {
        return r.takeError();
    }
    def.description = childText(root, "description");
    def.state = childText(root, "state");
    if (def.state != "running" && def.state != "paused" && def.state != "shutoff" &&
        def.state != "disk-snapshot") {
        return Error(Code::InvalidXML, "snapshot '" + def.name + "' has no known <state>");
    }
    if (xml::Node parent = xml::firstChild(root, "parent")) {
        def.parent = childText(parent, "name");
    }
    std::string created = childText(root, "creationTime");
    auto [end, ec] =
        std::from_chars(created.data(), created.data() + created.size(), def.creationTime);
    if (ec != std::errc() || end != created.data() + created.size()) {
        return Error(Code::InvalidXML, "snapshot '" + def.name + "' has no <creationTime>");
    }
    xml::Node memory = xml::firstChild(root, "memory");
    def.memory = memory == nullptr ? "no" : xml::attribute(memory, "snapshot").value_or("no");
    auto disks = parseDisks(root);
    if (!disks) {
        return disks.takeError();
    }
    def.disks = std::move(disks.value());
    xml::Node domain = xml::firstChild(root, "domain");
    if (domain == nullptr) {
        return Error(Code::InvalidXML, "snapshot '" + def.name + "' keeps no <domain>");
    }
    // formatSnapshotDef indented the definition by two spaces: taken off again, the text
    // is the definition as it was given.
    std::string nested = xml::serializeNode(doc.value(), domain);
    for (size_t at = 0; at != std::string::npos;) {
        if (nested.compare(at, 2, "  ") == 0) {
            nested.erase(at, 2);
        }
        at = nested.find('\n', at);
        at = at == std::string::npos ? at : at + 1;
    }
    def.domainXml = nested + "\n";
    return def;
}

std::string formatSnapshotDef(const SnapshotDef& def, std::string_view domainXml) {
    std::string out = "<domainsnapshot>\n  <name>" + xml::escape(def.name) + "</name>\n";
    if (!def.description.empty()) {
        out += "  <description>" + xml::escape(def.description) + "</description>\n";
    }
    out += "  <state>" + def.state + "</state>\n";
    if (!def.parent.empty()) {
        out += "  <parent>\n    <name>" + xml::escape(def.parent) + "</name>\n  </parent>\n";
    }
    out += "  <creationTime>" + std::to_string(def.creationTime) + "</creationTime>\n";
    out += "  <memory snapshot='" + def.memory + "'/>\n";
    if (!def.disks.empty()) {
        out += "  <disks>\n";
        for (const auto& disk : def.disks) {
            out +=
                "    <disk name='" + xml::escape(disk.name) + "' snapshot='" + disk.snapshot + "'";
            if (disk.snapshot != "external") {
                out += "/>\n";
                continue;
            }
            out += " type='file'>\n      <driver type='qcow2'/>\n      <source file='" +
                   xml::escape(disk.source) + "'/>\n    </disk>\n";
        }
        out += "  </disks>\n";
    }
    // The domain indented one level, as libvirt nests it.
    std::string_view rest = domainXml;
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        if (!line.empty()) {
            out += "  ";
        }
        out += line;
        out += '\n';
        rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    }
    out += "</domainsnapshot>\n";
    return out;
}

} // namespace virtswarm
