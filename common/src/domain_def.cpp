// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_def.hpp"

#include "definition_xml.hpp"
#include "domain_elements.hpp"
#include "domain_platform_parse.hpp"
#include "parse_util.hpp"
#include "virtswarm/domain_def_canonical.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>

namespace virtswarm {
namespace {

Error invalid(const std::string& what) {
    return detail::invalidXml(what);
}
Error unsupported(const std::string& what) {
    return detail::notSupported(what);
}

using detail::oneOf;
using detail::parseUnsigned;

// Reads the <address> of a device element into `address`.
template <typename Def> Result<Def> withAddress(xml::Node node, Result<Def> parsed) {
    if (!parsed) {
        return parsed;
    }
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    Def def = std::move(parsed).value();
    def.address = address.value();
    return def;
}

// As libvirt picks a bus for a <target> that names none: by the target's prefix.
std::string defaultDiskBus(const DiskDef& disk) {
    if (disk.targetDev.rfind("vd", 0) == 0) {
        return "virtio";
    }
    if (disk.targetDev.rfind("fd", 0) == 0 || disk.device == "floppy") {
        return "fdc";
    }
    return "sata";
}

} // namespace

uint32_t diskTargetIndex(const std::string& targetDev) {
    uint32_t index = 0;
    for (size_t i = 2; i < targetDev.size(); ++i) {
        if (targetDev[i] < 'a' || targetDev[i] > 'z') {
            break;
        }
        index = index * 26 + static_cast<uint32_t>(targetDev[i] - 'a') + (i > 2 ? 1 : 0);
    }
    return index;
}

namespace detail {

Result<DiskDef> parseDisk(xml::Node node) {
    DiskDef disk;
    std::string type = xml::attribute(node, "type").value_or("file");
    if (!oneOf(type, {"file", "volume"})) {
        return unsupported("disk type '" + type + "' is not supported (only 'file' and 'volume')");
    }
    disk.device = xml::attribute(node, "device").value_or("disk");
    if (!oneOf(disk.device, {"disk", "cdrom", "floppy"})) {
        return unsupported("disk device '" + disk.device + "' is not supported");
    }
    if (auto driver = xml::firstChild(node, "driver")) {
        disk.format = xml::attribute(driver, "type").value_or("raw");
        if (!oneOf(disk.format, {"raw", "qcow2"})) {
            return unsupported("disk format '" + disk.format + "' is not supported");
        }
    }
    xml::Node source = xml::firstChild(node, "source");
    if (type == "volume") {
        // The volume's format and path come from storaged when the domain starts.
        disk.volumePool = source ? xml::attribute(source, "pool").value_or("") : "";
        disk.volumeName = source ? xml::attribute(source, "volume").value_or("") : "";
        if (disk.volumePool.empty() || disk.volumeName.empty()) {
            return invalid("a disk of type 'volume' needs <source pool=... volume=...>");
        }
    } else if (source) {
        disk.source = xml::attribute(source, "file").value_or("");
    }
    if (disk.source.empty() && !disk.isVolume() && disk.device == "disk") {
        return invalid("disk has no <source file=...>");
    }
    auto target = xml::firstChild(node, "target");
    disk.targetDev = target ? xml::attribute(target, "dev").value_or("") : "";
    if (disk.targetDev.empty()) {
        return invalid("disk has no <target dev=...>");
    }
    disk.bus = xml::attribute(target, "bus").value_or(defaultDiskBus(disk));
    if (!oneOf(disk.bus, {"virtio", "sata", "ide", "scsi", "fdc"})) {
        return unsupported("disk bus '" + disk.bus + "' is not supported");
    }
    if (disk.bus == "virtio" && disk.device == "cdrom") {
        return unsupported("a cdrom cannot be on the virtio bus");
    }
    // libvirt: a floppy only on the floppy controller, and nothing else there.
    if ((disk.device == "floppy") != (disk.bus == "fdc")) {
        return unsupported(disk.device == "floppy"
                               ? "a floppy must be on bus 'fdc', not '" + disk.bus + "'"
                               : "only a floppy can be on bus 'fdc'");
    }
    disk.readonly = xml::firstChild(node, "readonly") != nullptr || disk.device == "cdrom";
    disk.shareable = xml::firstChild(node, "shareable") != nullptr;
    return withAddress(node, Result<DiskDef>(std::move(disk)));
}

} // namespace detail

namespace {

Result<CharDeviceDef> parseCharDevice(xml::Node node) {
    CharDeviceDef chr;
    chr.type = xml::attribute(node, "type").value_or("pty");
    if (!oneOf(chr.type, {"pty", "file", "unix"})) {
        return unsupported(std::string(xml::name(node)) + " type '" + chr.type +
                           "' is not supported (pty, file, unix)");
    }
    if (auto r = detail::parseCharDeviceExtras(node, chr); !r) {
        return r.takeError();
    }
    if (chr.type == "file") {
        auto source = xml::firstChild(node, "source");
        chr.path = source ? xml::attribute(source, "path").value_or("") : "";
        if (chr.path.empty() || chr.path[0] != '/') {
            return invalid(std::string(xml::name(node)) +
                           " of type 'file' needs an absolute <source path=...>");
        }
    }
    return chr;
}

bool validMac(const std::string& mac) {
    if (mac.size() != 17) {
        return false;
    }
    for (size_t i = 0; i < mac.size(); ++i) {
        bool colon = i % 3 == 2;
        if (colon ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i]))) {
            return false;
        }
    }
    // A multicast address cannot be a NIC's own.
    return (std::stoi(mac.substr(0, 2), nullptr, 16) & 1) == 0;
}

std::string generateMac(const UuidBytes& random) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string mac = "52:54:00"; // QEMU's OUI, as libvirt uses
    for (size_t i = 0; i < 3; ++i) {
        mac += ':';
        mac += kHex[random[i] >> 4];
        mac += kHex[random[i] & 0xf];
    }
    return mac;
}

} // namespace

namespace detail {

Result<InterfaceDef> parseInterface(xml::Node node) {
    InterfaceDef nic;
    nic.type = xml::attribute(node, "type").value_or("");
    if (nic.type != "user" && nic.type != "network" && nic.type != "bridge") {
        return unsupported("interface type '" + nic.type +
                           "' is not supported (user, network, bridge)");
    }
    if (nic.type != "user") {
        // The TAP comes from virtswarm-networkd: a named network, or a host bridge.
        xml::Node source = xml::firstChild(node, "source");
        nic.source = source ? xml::attribute(source, nic.type.c_str()).value_or("") : "";
        if (nic.source.empty()) {
            return invalid("interface type '" + nic.type + "' needs <source " + nic.type +
                           "='...'/>");
        }
    }
    auto macNode = xml::firstChild(node, "mac");
    if (macNode != nullptr) {
        nic.mac = xml::attribute(macNode, "address").value_or("");
        std::transform(nic.mac.begin(), nic.mac.end(), nic.mac.begin(), ::tolower);
        if (!validMac(nic.mac)) {
            return invalid("invalid MAC address '" + nic.mac + "'");
        }
    } else {
        nic.mac = generateMac(randomUuid());
        xml::setAttribute(xml::prependChild(node, "mac"), "address", nic.mac);
    }
    if (auto target = xml::firstChild(node, "target")) {
        nic.hostDevice = xml::attribute(target, "dev").value_or("");
    }
    if (auto model = xml::firstChild(node, "model")) {
        nic.model = xml::attribute(model, "type").value_or("virtio");
        if (!oneOf(nic.model, {"virtio", "e1000e", "e1000", "rtl8139"})) {
            return unsupported("interface model '" + nic.model + "' is not supported");
        }
    }
    if (auto ref = xml::firstChild(node, "filterref")) {
        if (nic.type == "user") {
            return unsupported("a <filterref> needs an interface of type network or bridge");
        }
        auto parsed = nwfilter::parseFilterRef(ref);
        if (!parsed) {
            return parsed.takeError();
        }
        nic.filterref = std::move(parsed).value();
    }
    return withAddress(node, Result<InterfaceDef>(std::move(nic)));
}

} // namespace detail

namespace {

// libvirt's passwdValidTo: "2010-04-09T15:51:00", UTC, optional fractional seconds.
std::optional<int64_t> parseUtcTimestamp(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr || (*end != '\0' && *end != '.')) {
        return std::nullopt;
    }
    return static_cast<int64_t>(timegm(&tm));
}

Result<GraphicsDef> parseGraphics(xml::Node node) {
    GraphicsDef g;
    g.type = xml::attribute(node, "type").value_or("");
    if (g.type != "vnc" && g.type != "spice") {
        return unsupported("graphics type '" + g.type + "' is not supported (vnc, spice)");
    }
    g.listen = xml::attribute(node, "listen").value_or(kDefaultGraphicsListen);
    // <listen type='address' address='...'/>, the form libvirt formats and virt-install
    // writes; the attribute, where both are given, is the same address.
    for (xml::Node listen : xml::children(node, "listen")) {
        std::string type = xml::attribute(listen, "type").value_or("address");
        if (type != "address") {
            return unsupported(g.type + " listen type '" + type + "' is not supported (address)");
        }
        if (auto address = xml::attribute(listen, "address");
            address && !xml::attribute(node, "listen")) {
            g.listen = *address;
        }
    }
    std::string port = xml::attribute(node, "port").value_or("-1");
    g.autoport = xml::attribute(node, "autoport").value_or(port == "-1" ? "yes" : "no") == "yes";
    if (!g.autoport) {
        auto p = parseUnsigned(port);
        if (!p || *p < 5900 || *p > 65535) {
            return invalid("graphics port '" + port + "' must be in 5900-65535");
        }
        g.port = static_cast<int>(*p);
    }
    g.passwd = xml::attribute(node, "passwd");
    if (auto validTo = xml::attribute(node, "passwdValidTo")) {
        g.passwdValidTo = parseUtcTimestamp(*validTo);
        if (!g.passwdValidTo) {
            return invalid("graphics passwdValidTo '" + *validTo + "' is not YYYY-MM-DDTHH:MM:SS");
        }
    }
    if (g.type == "spice") {
        if (auto r = detail::parseSpiceGraphics(node, g); !r) {
            return r.takeError();
        }
    }
    return g;
}

Result<void> parseDevices(xml::Node devices, DomainDef& def) {
    std::set<std::string> targets;
    for (xml::Node dev : xml::children(devices)) {
        std::string_view n = xml::name(dev);
        if (n == "emulator") {
            def.emulator = xml::text(dev);
        } else if (n == "disk") {
            auto disk = detail::parseDisk(dev);
            if (!disk) {
                return disk.takeError();
            }
            if (!targets.insert(disk.value().targetDev).second) {
                return invalid("two disks use target '" + disk.value().targetDev + "'");
            }
            def.disks.push_back(std::move(disk).value());
        } else if (n == "serial" || n == "console") {
            auto chr = parseCharDevice(dev);
            if (!chr) {
                return chr.takeError();
            }
            if (n == "serial") {
                def.serials.push_back(std::move(chr).value());
            } else if (!def.hasConsole) {
                def.hasConsole = true;
                // libvirt: a console without any serial creates the serial port itself.
                if (def.serials.empty() && xml::children(devices, "serial").empty()) {
                    def.serials.push_back(std::move(chr).value());
                }
            }
        } else if (n == "interface") {
            auto nic = detail::parseInterface(dev);
            if (!nic) {
                return nic.takeError();
            }
            def.interfaces.push_back(std::move(nic).value());
        } else if (n == "graphics") {
            auto g = parseGraphics(dev);
            if (!g) {
                return g.takeError();
            }
            def.graphics.push_back(std::move(g).value());
        } else if (n == "controller") {
            auto c = detail::parseController(dev);
            if (!c) {
                return c.takeError();
            }
            def.controllers.push_back(std::move(c).value());
        } else if (n == "input") {
            auto in = detail::parseInput(dev);
            if (!in) {
                return in.takeError();
            }
            def.inputs.push_back(std::move(in).value());
        } else if (n == "memballoon") {
            auto b = detail::parseMemballoon(dev);
            if (!b) {
                return b.takeError();
            }
            def.memballoon = std::move(b).value();
        } else if (auto tool = detail::parseToolDevice(dev, def.tools); !tool) {
            return tool.takeError();
        } else if (!tool.value()) {
            return unsupported("device <" + std::string(n) + "> is not supported");
        }
    }
    return success();
}

Result<void> parseOs(xml::Node os, DomainDef& def) {
    auto type = xml::firstChild(os, "type");
    if (type == nullptr || xml::text(type) != "hvm") {
        return type == nullptr
                   ? invalid("<os> needs <type>hvm</type>")
                   : unsupported("os type '" + xml::text(type) + "' is not supported (only 'hvm')");
    }
    def.arch = xml::attribute(type, "arch").value_or("x86_64");
    if (def.arch != "x86_64") {
        return unsupported("architecture '" + def.arch + "' is not supported");
    }
    def.machine = xml::attribute(type, "machine").value_or("");
    for (const char* field : {"kernel", "initrd", "cmdline"}) {
        if (auto n = xml::firstChild(os, field)) {
            std::string v = xml::text(n);
            (std::string_view(field) == "kernel"   ? def.kernel
             : std::string_view(field) == "initrd" ? def.initrd
                                                   : def.cmdline) = v;
        }
    }
    for (xml::Node boot : xml::children(os, "boot")) {
        std::string dev = xml::attribute(boot, "dev").value_or("");
        if (!oneOf(dev, {"hd", "cdrom", "network", "fd"})) {
            return invalid("boot device '" + dev + "' is not one of hd, cdrom, network, fd");
        }
        def.bootDevices.push_back(dev);
    }
    return success();
}

Result<uint64_t> memoryElement(xml::Node node, const char* what) {
    bool ok = false;
    uint64_t kib =
        parseMemoryKiB(xml::text(node), xml::attribute(node, "unit").value_or("KiB"), ok);
    if (!ok || kib == 0) {
        return invalid(std::string("invalid <") + what + "> value '" + xml::text(node) + "'");
    }
    return kib;
}

} // namespace

uint64_t parseMemoryKiB(const std::string& value, const std::string& unit, bool& ok) {
    ok = false;
    auto v = parseUnsigned(value);
    if (!v) {
        return 0;
    }
    struct Unit {
        const char* name;
        uint64_t bytes;
    };
    static constexpr Unit kUnits[] = {
        {"b", 1},           {"bytes", 1},        {"KB", 1000},        {"k", 1024},
        {"KiB", 1024},      {"MB", 1000000},     {"M", 1 << 20},      {"MiB", 1 << 20},
        {"GB", 1000000000}, {"G", 1ULL << 30},   {"GiB", 1ULL << 30}, {"TB", 1000000000000},
        {"T", 1ULL << 40},  {"TiB", 1ULL << 40},
    };
    for (const auto& u : kUnits) {
        if (unit == u.name) {
            if (*v > UINT64_MAX / u.bytes) {
                return 0;
            }
            ok = true;
            // Round up to whole KiB, as libvirt does.
            return (*v * u.bytes + 1023) / 1024;
        }
    }
    return 0;
}

Result<DomainXml> parseDomainXml(std::string_view text) {
    auto parsed = xml::Document::parse(text);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Document doc = std::move(parsed).value();
    xml::Node root = doc.root();
    if (xml::name(root) != "domain") {
        return invalid("root element must be <domain>, not <" + std::string(xml::name(root)) + ">");
    }
    DomainDef def;
    auto type = xml::attribute(root, "type");
    if (!type) {
        return invalid("<domain> needs a type attribute");
    }
    def.virtType = *type;
    if (!oneOf(def.virtType, {"kvm", "qemu"})) {
        return unsupported("domain type '" + def.virtType + "' is not supported (kvm, qemu)");
    }

    auto name = detail::takeName(root, "domain", kMaxDomainNameBytes);
    if (!name) {
        return name.takeError();
    }
    def.name = std::move(name).value();

    auto uuid = detail::takeOrAddUuid(root, xml::firstChild(root, "name"));
    if (!uuid) {
        return uuid.takeError();
    }
    def.uuid = uuid.value();

    auto memory = xml::firstChild(root, "memory");
    if (memory == nullptr) {
        return invalid("<memory> is required");
    }
    auto memKiB = memoryElement(memory, "memory");
    if (!memKiB) {
        return memKiB.takeError();
    }
    def.memoryKiB = memKiB.value();
    def.currentMemoryKiB = def.memoryKiB;
    if (auto current = xml::firstChild(root, "currentMemory")) {
        auto cur = memoryElement(current, "currentMemory");
        if (!cur) {
            return cur.takeError();
        }
        def.currentMemoryKiB = std::min(cur.value(), def.memoryKiB);
    }

    if (auto vcpu = xml::firstChild(root, "vcpu")) {
        auto n = parseUnsigned(xml::text(vcpu));
        if (!n || *n == 0 || *n > 255) {
            return invalid("<vcpu> must be a number from 1 to 255");
        }
        def.vcpus = static_cast<uint32_t>(*n);
        def.vcpusCurrent = def.vcpus;
        if (auto current = xml::attribute(vcpu, "current")) {
            auto c = parseUnsigned(*current);
            if (!c || *c == 0 || *c > def.vcpus) {
                return invalid("<vcpu current='" + *current + "'> must be a number from 1 to " +
                               std::to_string(def.vcpus));
            }
            def.vcpusCurrent = static_cast<uint32_t>(*c);
        }
    }

    auto os = xml::firstChild(root, "os");
    if (os == nullptr) {
        return invalid("<os> is required");
    }
    if (auto r = parseOs(os, def); !r) {
        return r.takeError();
    }
    if (auto r = detail::parsePlatform(root, def); !r) {
        return r.takeError();
    }
    if (auto r = detail::parseSmbiosMode(root, os, def.tools); !r) {
        return r.takeError();
    }
    if (auto devices = xml::firstChild(root, "devices")) {
        if (auto r = parseDevices(devices, def); !r) {
            return r.takeError();
        }
    }
    // Written into the XML, like a generated MAC: the PCI bus numbers stay stable.
    detail::assignControllerIndexes(def);
    if (auto devices = xml::firstChild(root, "devices")) {
        auto nodes = xml::children(devices, "controller");
        for (size_t i = 0; i < nodes.size() && i < def.controllers.size(); ++i) {
            if (!xml::attribute(nodes[i], "index")) {
                xml::setAttribute(nodes[i], "index", std::to_string(def.controllers[i].index));
            }
        }
    }
    if (auto r = detail::checkControllers(def); !r) {
        return r.takeError();
    }
    if (auto r = detail::checkToolDevices(def); !r) {
        return r.takeError();
    }
    // What clients read back is libvirt's form of it (units, defaults written out).
    canonicalizeDomain(root, def);
    // A running domain's id is not part of its definition.
    xml::removeAttribute(root, "id");
    return DomainXml{std::move(def), doc.serialize()};
}

std::string liveDomainXml(const std::string& xmlText, int id) {
    auto parsed = xml::Document::parse(xmlText);
    if (!parsed) {
        return xmlText;
    }
    xml::setAttribute(parsed.value().root(), "id", std::to_string(id));
    return parsed.value().serialize();
}

} // namespace virtswarm
