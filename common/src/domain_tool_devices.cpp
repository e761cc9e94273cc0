// SPDX-License-Identifier: LGPL-2.1-or-later
// Parsers of the devices management tools add to every guest (domain_tool_devices.hpp).
// What virtswarm cannot run is NotSupported, naming the element and the value.
#include "domain_elements.hpp"

#include <algorithm>
#include <charconv>

namespace virtswarm::detail {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}
Error unsupported(const std::string& what) {
    return Error(Code::ConfigUnsupported, what);
}

bool oneOf(const std::string& v, std::initializer_list<const char*> allowed) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

// An optional unsigned attribute; `fallback` when absent.
Result<uint64_t> numberAttribute(xml::Node node, const char* element, const char* attr,
                                 uint64_t fallback) {
    auto text = xml::attribute(node, attr);
    if (!text) {
        return fallback;
    }
    uint64_t v = 0;
    int base = 10;
    std::string_view digits = *text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        digits.remove_prefix(2);
        base = 16;
    }
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
        return invalid(std::string("<") + element + " " + attr + "='" + *text +
                       "'> is not a number");
    }
    return v;
}

Result<DeviceAddress> addressOf(xml::Node node, const char* element, bool pci) {
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    bool ok = std::holds_alternative<std::monostate>(address.value()) ||
              (pci ? std::holds_alternative<PciAddress>(address.value())
                   : std::holds_alternative<VirtioSerialAddress>(address.value()));
    if (!ok) {
        return invalid(std::string("<") + element + "> has an address of the wrong type");
    }
    return address;
}

Result<ChannelDef> parseChannel(xml::Node node) {
    ChannelDef channel;
    channel.type = xml::attribute(node, "type").value_or("");
    if (!oneOf(channel.type, {"unix", "spicevmc"})) {
        return unsupported("channel type '" + channel.type + "' is not supported (unix, spicevmc)");
    }
    xml::Node target = xml::firstChild(node, "target");
    std::string targetType = target ? xml::attribute(target, "type").value_or("") : "";
    if (targetType != "virtio") {
        return unsupported("channel target type '" + targetType + "' is not supported (virtio)");
    }
    // state='connected' in a live XML fed back is ignored: it is the guest's, not ours.
    channel.targetName = xml::attribute(target, "name").value_or("");
    if (channel.type == "spicevmc" && channel.targetName.empty()) {
        channel.targetName = "com.redhat.spice.0";
    }
    if (channel.targetName.empty()) {
        return invalid("channel <target> needs a name");
    }
    if (channel.type == "unix") {
        xml::Node source = xml::firstChild(node, "source");
        std::string mode = source ? xml::attribute(source, "mode").value_or("bind") : "bind";
        if (mode != "bind") {
            return unsupported("channel source mode '" + mode + "' is not supported (bind)");
        }
        channel.path = source ? xml::attribute(source, "path").value_or("") : "";
        if (!channel.path.empty() && channel.path[0] != '/') {
            return invalid("channel source path '" + channel.path + "' is not absolute");
        }
    }
    auto address = addressOf(node, "channel", false);
    if (!address) {
        return address.takeError();
    }
    channel.address = address.value();
    return channel;
}

Result<VideoDef> parseVideo(xml::Node node) {
    VideoDef video;
    xml::Node model = xml::firstChild(node, "model");
    video.model = model ? xml::attribute(model, "type").value_or("") : "";
    if (!oneOf(video.model, {"virtio", "qxl", "vga", "bochs", "ramfb", "none"})) {
        return unsupported("video model '" + video.model +
                           "' is not supported (virtio, qxl, vga, bochs, ramfb, none)");
    }
    if (model != nullptr) {
        if (xml::Node accel = xml::firstChild(model, "acceleration")) {
            if (xml::attribute(accel, "accel3d").value_or("no") == "yes") {
                return unsupported("video <acceleration accel3d='yes'> is not supported");
            }
        }
        auto ram = numberAttribute(model, "model", "ram", 0);
        auto vram = numberAttribute(model, "model", "vram", 0);
        auto vgamem = numberAttribute(model, "model", "vgamem", 0);
        auto heads = numberAttribute(model, "model", "heads", 1);
        for (auto* r : {&ram, &vram, &vgamem, &heads}) {
            if (!*r) {
                return r->takeError();
            }
        }
        if (heads.value() == 0 || heads.value() > 16) {
            return invalid("video heads must be from 1 to 16");
        }
        video.ramKiB = ram.value();
        video.vramKiB = vram.value();
        video.vgamemKiB = vgamem.value();
        video.heads = static_cast<uint32_t>(heads.value());
    }
    auto address = addressOf(node, "video", true);
    if (!address) {
        return address.takeError();
    }
    video.address = address.value();
    return video;
}

Result<AudioDef> parseAudio(xml::Node node) {
    AudioDef audio;
    auto id = numberAttribute(node, "audio", "id", 1);
    if (!id) {
        return id.takeError();
    }
    if (id.value() == 0 || id.value() > 0xffff) {
        return invalid("<audio id> must be from 1 to 65535");
    }
    audio.id = static_cast<uint32_t>(id.value());
    audio.type = xml::attribute(node, "type").value_or("");
    if (!oneOf(audio.type, {"none", "spice"})) {
        return unsupported("audio type '" + audio.type + "' is not supported (none, spice)");
    }
    return audio;
}

Result<SoundDef> parseSound(xml::Node node) {
    SoundDef sound;
    sound.model = xml::attribute(node, "model").value_or("");
    if (!oneOf(sound.model, {"ich9", "ich6", "ac97"})) {
        return unsupported("sound model '" + sound.model + "' is not supported (ich9, ich6, ac97)");
    }
    if (xml::Node codec = xml::firstChild(node, "codec")) {
        std::string type = xml::attribute(codec, "type").value_or("duplex");
        if (type != "duplex") {
            return unsupported("sound codec '" + type + "' is not supported (duplex)");
        }
    }
    if (xml::Node audio = xml::firstChild(node, "audio")) {
        auto id = numberAttribute(audio, "audio", "id", 0);
        if (!id) {
            return id.takeError();
        }
        sound.audioId = static_cast<uint32_t>(id.value());
    }
    auto address = addressOf(node, "sound", true);
    if (!address) {
        return address.takeError();
    }
    sound.address = address.value();
    return sound;
}

Result<RngDef> parseRng(xml::Node node) {
    RngDef rng;
    std::string model = xml::attribute(node, "model").value_or("");
    if (model != "virtio") {
        return unsupported("rng model '" + model + "' is not supported (virtio)");
    }
    xml::Node backend = xml::firstChild(node, "backend");
    std::string backendModel = backend ? xml::attribute(backend, "model").value_or("") : "";
    if (backendModel != "random") {
        return unsupported("rng backend model '" + backendModel + "' is not supported (random)");
    }
    std::string source = xml::text(backend);
    if (!source.empty()) {
        rng.source = source;
    }
    if (!oneOf(rng.source, {"/dev/urandom", "/dev/random"})) {
        return unsupported("rng backend '" + rng.source +
                           "' is not supported (/dev/urandom, /dev/random)");
    }
    if (xml::Node rate = xml::firstChild(node, "rate")) {
        auto bytes = numberAttribute(rate, "rate", "bytes", 0);
        auto period = numberAttribute(rate, "rate", "period", 1000);
        if (!bytes || !period) {
            return !bytes ? bytes.takeError() : period.takeError();
        }
        if (bytes.value() == 0 || period.value() == 0) {
            return invalid("rng <rate> bytes and period must be positive");
        }
        rng.rateBytes = bytes.value();
        rng.ratePeriodMs = period.value();
    }
    auto address = addressOf(node, "rng", true);
    if (!address) {
        return address.takeError();
    }
    rng.address = address.value();
    return rng;
}

Result<TpmDef> parseTpm(xml::Node node) {
    TpmDef tpm;
    tpm.model = xml::attribute(node, "model").value_or("tpm-tis");
    if (!oneOf(tpm.model, {"tpm-crb", "tpm-tis"})) {
        return unsupported("tpm model '" + tpm.model + "' is not supported (tpm-crb, tpm-tis)");
    }
    xml::Node backend = xml::firstChild(node, "backend");
    std::string type = backend ? xml::attribute(backend, "type").value_or("") : "";
    if (type != "emulator") {
        return unsupported("tpm backend type '" + type + "' is not supported (emulator)");
    }
    std::string version = xml::attribute(backend, "version").value_or("2.0");
    if (version != "2.0") {
        return unsupported("tpm backend version '" + version + "' is not supported (2.0)");
    }
    if (xml::firstChild(backend, "encryption") != nullptr) {
        return unsupported("tpm state <encryption> is not supported");
    }
    return tpm;
}

Result<WatchdogDef> parseWatchdog(xml::Node node) {
    WatchdogDef watchdog;
    watchdog.model = xml::attribute(node, "model").value_or("");
    if (!oneOf(watchdog.model, {"i6300esb", "itco"})) {
        return unsupported("watchdog model '" + watchdog.model +
                           "' is not supported (i6300esb, itco)");
    }
    watchdog.action = xml::attribute(node, "action").value_or("reset");
    if (!oneOf(watchdog.action, {"reset", "shutdown", "poweroff", "pause", "none", "inject-nmi"})) {
        return unsupported("watchdog action '" + watchdog.action +
                           "' is not supported (reset, shutdown, poweroff, pause, none, "
                           "inject-nmi)");
    }
    auto address = addressOf(node, "watchdog", true);
    if (!address) {
        return address.takeError();
    }
    watchdog.address = address.value();
    return watchdog;
}

Result<RedirdevDef> parseRedirdev(xml::Node node) {
    std::string bus = xml::attribute(node, "bus").value_or("usb");
    std::string type = xml::attribute(node, "type").value_or("");
    if (bus != "usb" || type != "spicevmc") {
        return unsupported("redirdev bus '" + bus + "' type '" + type +
                           "' is not supported (bus 'usb', type 'spicevmc')");
    }
    auto address = parseDeviceAddress(node);
    if (!address) {
        return address.takeError();
    }
    if (!std::holds_alternative<std::monostate>(address.value()) &&
        !std::holds_alternative<UsbAddress>(address.value())) {
        return invalid("a <redirdev> needs an address of type 'usb'");
    }
    return RedirdevDef{address.value()};
}

Result<PanicDef> parsePanic(xml::Node node) {
    PanicDef panic;
    panic.model = xml::attribute(node, "model").value_or("isa");
    if (!oneOf(panic.model, {"isa", "pvpanic"})) {
        return unsupported("panic model '" + panic.model + "' is not supported (isa, pvpanic)");
    }
    xml::Node address = xml::firstChild(node, "address");
    if (panic.model == "isa") {
        // libvirt gives the ISA device its I/O port, an address type the PCI parser refuses.
        if (address != nullptr) {
            if (xml::attribute(address, "type").value_or("") != "isa") {
                return invalid("an isa <panic> needs an address of type 'isa'");
            }
            auto port = numberAttribute(address, "address", "iobase", 0x505);
            if (!port) {
                return port.takeError();
            }
            if (port.value() > 0xffff) {
                return invalid("panic iobase must be at most 0xffff");
            }
            panic.ioport = static_cast<uint32_t>(port.value());
        }
        return panic;
    }
    auto pci = addressOf(node, "panic", true);
    if (!pci) {
        return pci.takeError();
    }
    panic.address = pci.value();
    return panic;
}

struct SmbiosSection {
    const char* element;
    int type;
    std::initializer_list<const char*> names;
};

constexpr const char* kOemStrings = "oemStrings";

Result<std::vector<SmbiosTable>> parseSysinfo(xml::Node sysinfo) {
    static const SmbiosSection kSections[] = {
        {"bios", 0, {"vendor", "version", "date", "release"}},
        {"system", 1, {"manufacturer", "product", "version", "serial", "uuid", "sku", "family"}},
        {"baseBoard", 2, {"manufacturer", "product", "version", "serial", "asset", "location"}},
        {"chassis", 3, {"manufacturer", "version", "serial", "asset", "sku"}},
    };
    std::vector<SmbiosTable> tables;
    for (xml::Node section : xml::children(sysinfo)) {
        std::string_view element = xml::name(section);
        if (element == kOemStrings) {
            SmbiosTable table{11, {}};
            for (xml::Node entry : xml::children(section, "entry")) {
                table.fields.emplace_back("value", xml::text(entry));
            }
            tables.push_back(std::move(table));
            continue;
        }
        auto known = std::find_if(std::begin(kSections), std::end(kSections),
                                  [&](const SmbiosSection& s) { return element == s.element; });
        if (known == std::end(kSections)) {
            return unsupported("sysinfo <" + std::string(element) + "> is not supported");
        }
        SmbiosTable table{known->type, {}};
        for (xml::Node entry : xml::children(section, "entry")) {
            std::string name = xml::attribute(entry, "name").value_or("");
            if (!oneOf(name, known->names)) {
                return invalid("sysinfo <" + std::string(element) + "> has no entry '" + name +
                               "'");
            }
            table.fields.emplace_back(name, xml::text(entry));
        }
        tables.push_back(std::move(table));
    }
    return tables;
}

} // namespace

Result<bool> parseToolDevice(xml::Node dev, ToolDevices& tools) {
    std::string_view n = xml::name(dev);
    if (n == "controller") {
        // The controllers themselves are built elsewhere; channels only need to know
        // whether the port bus already exists.
        if (xml::attribute(dev, "type").value_or("") == "virtio-serial") {
            tools.hasVirtioSerialController = true;
        }
        return false;
    }
    auto add = [](auto parsed, auto& into) -> Result<bool> {
        if (!parsed) {
            return parsed.takeError();
        }
        into.push_back(std::move(parsed).value());
        return true;
    };
    if (n == "channel") {
        return add(parseChannel(dev), tools.channels);
    }
    if (n == "video") {
        auto video = parseVideo(dev);
        if (!video) {
            return video.takeError();
        }
        // libvirt puts the primary video first; QEMU's first display device is the
        // VGA-compatible one the firmware uses.
        xml::Node model = xml::firstChild(dev, "model");
        bool primary = model && xml::attribute(model, "primary").value_or("no") == "yes";
        tools.videos.insert(primary ? tools.videos.begin() : tools.videos.end(),
                            std::move(video).value());
        return true;
    }
    if (n == "audio") {
        return add(parseAudio(dev), tools.audios);
    }
    if (n == "sound") {
        return add(parseSound(dev), tools.sounds);
    }
    if (n == "rng") {
        return add(parseRng(dev), tools.rngs);
    }
    if (n == "panic") {
        return add(parsePanic(dev), tools.panics);
    }
    if (n == "redirdev") {
        return add(parseRedirdev(dev), tools.redirdevs);
    }
    if (n == "tpm" || n == "watchdog") {
        bool taken = n == "tpm" ? tools.tpm.has_value() : tools.watchdog.has_value();
        if (taken) {
            return unsupported("more than one <" + std::string(n) + "> is not supported");
        }
        if (n == "tpm") {
            auto tpm = parseTpm(dev);
            if (!tpm) {
                return tpm.takeError();
            }
            tools.tpm = tpm.value();
        } else {
            auto watchdog = parseWatchdog(dev);
            if (!watchdog) {
                return watchdog.takeError();
            }
            tools.watchdog = watchdog.value();
        }
        return true;
    }
    return false;
}

Result<void> parseSmbiosMode(xml::Node root, xml::Node os, ToolDevices& tools) {
    xml::Node smbios = xml::firstChild(os, "smbios");
    std::string mode = smbios ? xml::attribute(smbios, "mode").value_or("") : "emulate";
    if (mode == "emulate") {
        return success();
    }
    if (mode != "sysinfo") {
        return unsupported("smbios mode '" + mode + "' is not supported (emulate, sysinfo)");
    }
    xml::Node sysinfo = nullptr;
    for (xml::Node candidate : xml::children(root, "sysinfo")) {
        if (xml::attribute(candidate, "type").value_or("") == "smbios") {
            sysinfo = candidate;
        }
    }
    if (sysinfo == nullptr) {
        return invalid("<smbios mode='sysinfo'> needs a <sysinfo type='smbios'>");
    }
    auto tables = parseSysinfo(sysinfo);
    if (!tables) {
        return tables.takeError();
    }
    tools.smbios = std::move(tables).value();
    return success();
}

Result<void> checkToolDevices(DomainDef& def) {
    ToolDevices& tools = def.tools;
    // Explicit controllers are parsed with the others (domain_controllers.cpp).
    tools.hasVirtioSerialController =
        tools.hasVirtioSerialController ||
        std::any_of(def.controllers.begin(), def.controllers.end(),
                    [](const ControllerDef& c) { return c.type == "virtio-serial"; });
    bool spice = std::any_of(def.graphics.begin(), def.graphics.end(),
                             [](const GraphicsDef& g) { return g.type == "spice"; });
    for (const auto& channel : tools.channels) {
        if (channel.type == "spicevmc" && !spice) {
            return invalid("a spicevmc <channel> needs <graphics type='spice'>");
        }
    }
    if (!tools.redirdevs.empty()) {
        if (!spice) {
            return invalid("a spicevmc <redirdev> needs <graphics type='spice'>");
        }
        if (std::any_of(def.controllers.begin(), def.controllers.end(), [](const ControllerDef& c) {
                return c.type == "usb" && c.model == "none";
            })) {
            return invalid("a <redirdev> needs a USB controller, and the USB controller is 'none'");
        }
    }
    for (const auto& audio : tools.audios) {
        if (audio.type == "spice" && !spice) {
            return invalid("<audio type='spice'> needs <graphics type='spice'>");
        }
    }
    for (const auto& sound : tools.sounds) {
        bool found = sound.audioId == 0 && !tools.audios.empty();
        for (const auto& audio : tools.audios) {
            found = found || audio.id == sound.audioId;
        }
        if (!found && !(sound.audioId == 0 && tools.audios.empty())) {
            return invalid("<sound> plays to <audio id='" + std::to_string(sound.audioId) +
                           "'>, which does not exist");
        }
    }
    auto& videos = tools.videos;
    if (videos.size() > 1) {
        if (std::any_of(videos.begin(), videos.end(),
                        [](const VideoDef& v) { return v.model == "none"; })) {
            return invalid("video model 'none' cannot be combined with other videos");
        }
        for (size_t i = 1; i < videos.size(); ++i) {
            if (!oneOf(videos[i].model, {"virtio", "qxl", "bochs"})) {
                return unsupported("video model '" + videos[i].model +
                                   "' is not supported as a secondary video");
            }
        }
    }
    bool q35 = def.machine.find("q35") != std::string::npos;
    if (tools.watchdog && tools.watchdog->model == "itco" && !q35) {
        return unsupported("watchdog model 'itco' needs the q35 machine type");
    }
    return success();
}

Result<void> parseCharDeviceExtras(xml::Node node, CharDeviceDef& chr) {
    std::string element(xml::name(node));
    if (chr.type == "unix") {
        xml::Node source = xml::firstChild(node, "source");
        std::string mode = source ? xml::attribute(source, "mode").value_or("bind") : "bind";
        if (!oneOf(mode, {"bind", "connect"})) {
            return invalid(element + " source mode '" + mode + "' is not bind or connect");
        }
        chr.unixListen = mode == "bind";
        chr.path = source ? xml::attribute(source, "path").value_or("") : "";
        if (chr.path.empty() || chr.path[0] != '/') {
            return invalid(element + " of type 'unix' needs an absolute <source path=...>");
        }
    }
    if (xml::Node log = xml::firstChild(node, "log")) {
        chr.logFile = xml::attribute(log, "file").value_or("");
        if (chr.logFile.empty() || chr.logFile[0] != '/') {
            return invalid(element + " <log> needs an absolute file");
        }
        chr.logAppend = xml::attribute(log, "append").value_or("off") == "on";
    }
    return success();
}

Result<void> parseSpiceGraphics(xml::Node node, GraphicsDef& graphics) {
    std::string tlsPort = xml::attribute(node, "tls-port").value_or("-1");
    if (tlsPort != "-1") {
        return unsupported("spice graphics tls-port '" + tlsPort + "' is not supported");
    }
    for (xml::Node child : xml::children(node)) {
        std::string_view n = xml::name(child);
        if (n == "listen") {
            continue; // parseGraphics reads it, for VNC alike
        }
        if (n == "image") {
            graphics.imageCompression = xml::attribute(child, "compression").value_or("");
            if (!oneOf(graphics.imageCompression,
                       {"auto_glz", "auto_lz", "quic", "glz", "lz", "off"})) {
                return invalid("spice image compression '" + graphics.imageCompression +
                               "' is not one of auto_glz, auto_lz, quic, glz, lz, off");
            }
        } else {
            return unsupported("spice graphics <" + std::string(n) + "> is not supported");
        }
    }
    return success();
}

} // namespace virtswarm::detail

namespace virtswarm {

std::optional<size_t> ToolDevices::guestAgentChannel() const {
    for (size_t i = 0; i < channels.size(); ++i) {
        if (channels[i].type == "unix" && channels[i].targetName == kGuestAgentChannelName) {
            return i;
        }
    }
    return std::nullopt;
}

} // namespace virtswarm
