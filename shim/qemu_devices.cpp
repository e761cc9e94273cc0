// SPDX-License-Identifier: LGPL-2.1-or-later
// QEMU options for the devices management tools add (domain_tool_devices.hpp). Device
// ids follow libvirt's aliases (channel0, video0, sound0, rng0, tpm0, watchdog0), so the
// live XML and QMP's view agree.
#include "qemu_command.hpp"
#include "qemu_controllers.hpp"

#include <algorithm>
#include <set>

namespace virtswarm::shim {
namespace {

using Argv = std::vector<std::string>;

void add(Argv& argv, std::initializer_list<std::string> args) {
    argv.insert(argv.end(), args);
}

bool isQ35(const DomainDef& def) {
    return def.machine.find("q35") != std::string::npos;
}

std::string pci(const DomainDef& def, const DeviceAddress& address) {
    return qemuPciAddressSuffix(address, isQ35(def));
}

bool hasSpice(const DomainDef& def) {
    return std::any_of(def.graphics.begin(), def.graphics.end(),
                       [](const GraphicsDef& g) { return g.type == "spice"; });
}

std::string mib(uint64_t kib) {
    return std::to_string((kib + 1023) / 1024);
}

void addSpice(const DomainDef& def, const QemuLaunch& launch, Argv& argv) {
    for (const auto& g : def.graphics) {
        if (g.type != "spice") {
            continue;
        }
        int port = g.autoport ? launch.spicePort : g.port;
        // No password on the command line. With one, ticketing stays on and QEMU refuses
        // every client until the shim sets it through QMP (set_password) under -S; without
        // one nobody needs a ticket, as with libvirt.
        std::string spice = "port=" + std::to_string(port) + ",addr=" + qemuEscapeCommas(g.listen);
        if (!g.passwd) {
            spice += ",disable-ticketing=on";
        }
        spice += ",seamless-migration=on";
        if (!g.imageCompression.empty()) {
            spice += ",image-compression=" + g.imageCompression;
        }
        add(argv, {"-spice", spice});
        return; // QEMU has one SPICE server
    }
}

std::string primaryVideoDevice(const VideoDef& video) {
    if (video.model == "virtio") {
        return "virtio-vga";
    }
    if (video.model == "qxl") {
        return "qxl-vga";
    }
    if (video.model == "bochs") {
        return "bochs-display";
    }
    if (video.model == "ramfb") {
        return "ramfb";
    }
    return "VGA";
}

std::string secondaryVideoDevice(const VideoDef& video) {
    return video.model == "virtio" ? "virtio-gpu-pci"
           : video.model == "qxl"  ? "qxl"
                                   : "bochs-display";
}

void addVideos(const DomainDef& def, Argv& argv) {
    std::vector<VideoDef> videos = def.tools.videos;
    if (videos.empty() && !def.graphics.empty()) {
        // libvirt's default for a guest with graphics on x86.
        VideoDef vga;
        vga.model = "vga";
        videos.push_back(vga);
    }
    for (size_t i = 0; i < videos.size(); ++i) {
        const VideoDef& v = videos[i];
        if (v.model == "none") {
            continue;
        }
        std::string device = (i == 0 ? primaryVideoDevice(v) : secondaryVideoDevice(v)) +
                             ",id=video" + std::to_string(i);
        if (v.model == "qxl") {
            // libvirt's sizes are KiB; QEMU's ram_size/vram_size bytes, vgamem_mb MiB.
            if (v.ramKiB > 0) {
                device += ",ram_size=" + std::to_string(v.ramKiB * 1024);
            }
            if (v.vramKiB > 0) {
                device += ",vram_size=" + std::to_string(v.vramKiB * 1024);
            }
            if (v.vgamemKiB > 0) {
                device += ",vgamem_mb=" + mib(v.vgamemKiB);
            }
            device += ",max_outputs=" + std::to_string(v.heads);
        } else if (v.model == "virtio") {
            device += ",max_outputs=" + std::to_string(v.heads);
        } else if (v.model == "vga" && v.vramKiB > 0) {
            device += ",vgamem_mb=" + mib(v.vramKiB);
        } else if (v.model == "bochs" && v.vramKiB > 0) {
            device += ",vgamem=" + std::to_string(v.vramKiB * 1024);
        }
        if (v.model != "ramfb") {
            device += pci(def, v.address);
        }
        add(argv, {"-device", device});
    }
}

void addAudio(const DomainDef& def, Argv& argv) {
    const ToolDevices& tools = def.tools;
    std::vector<AudioDef> audios = tools.audios;
    if (audios.empty() && !tools.sounds.empty()) {
        // As libvirt: a sound card without <audio> plays to SPICE, or nowhere.
        audios.push_back(AudioDef{1, hasSpice(def) ? "spice" : "none"});
    }
    for (const auto& a : audios) {
        add(argv, {"-audiodev", a.type + ",id=audio" + std::to_string(a.id)});
    }
    for (size_t i = 0; i < tools.sounds.size(); ++i) {
        const SoundDef& s = tools.sounds[i];
        std::string id = "sound" + std::to_string(i);
        std::string audiodev =
            "audio" + std::to_string(s.audioId != 0 ? s.audioId : audios.front().id);
        if (s.model == "ac97") {
            add(argv, {"-device", "AC97,id=" + id + ",audiodev=" + audiodev + pci(def, s.address)});
            continue;
        }
        std::string controller = s.model == "ich9" ? "ich9-intel-hda" : "intel-hda";
        add(argv, {"-device", controller + ",id=" + id + pci(def, s.address)});
        add(argv, {"-device",
                   "hda-duplex,id=" + id + "-codec0,bus=" + id + ".0,cad=0,audiodev=" + audiodev});
    }
}

void addChannels(const DomainDef& def, const QemuLaunch& launch, Argv& argv) {
    const auto& channels = def.tools.channels;
    if (channels.empty()) {
        return;
    }
    if (!def.tools.hasVirtioSerialController) {
        // libvirt adds the controller a channel needs; its index is 0.
        add(argv, {"-device", "virtio-serial-pci,id=virtio-serial0"});
    }
    // Ports libvirt did not number get the next free one from 1 (0 is a console's).
    std::set<std::pair<uint32_t, uint32_t>> used; // (controller, port)
    for (const auto& c : channels) {
        if (auto a = std::get_if<VirtioSerialAddress>(&c.address)) {
            used.insert({a->controller, a->port});
        }
    }
    uint32_t nextPort = 1;
    for (size_t i = 0; i < channels.size(); ++i) {
        const ChannelDef& c = channels[i];
        std::string chardev = "charchannel" + std::to_string(i);
        if (c.type == "spicevmc") {
            add(argv, {"-chardev", "spicevmc,id=" + chardev + ",name=vdagent"});
        } else {
            auto fd = launch.socketFds.find(chardev);
            std::string where = fd != launch.socketFds.end() ? "fd=" + std::to_string(fd->second)
                                                             : "path=" + qemuEscapeCommas(c.path);
            add(argv, {"-chardev", "socket,id=" + chardev + "," + where + ",server=on,wait=off"});
        }
        VirtioSerialAddress address;
        if (auto a = std::get_if<VirtioSerialAddress>(&c.address)) {
            address = *a;
        } else {
            while (used.count({0, nextPort}) > 0) {
                ++nextPort;
            }
            address.port = nextPort;
            used.insert({0, nextPort});
        }
        add(argv, {"-device",
                   "virtserialport,bus=virtio-serial" + std::to_string(address.controller) + "." +
                       std::to_string(address.bus) + ",nr=" + std::to_string(address.port) +
                       ",chardev=" + chardev + ",id=channel" + std::to_string(i) +
                       ",name=" + qemuEscapeCommas(c.targetName)});
    }
}

void addRngs(const DomainDef& def, Argv& argv) {
    for (size_t i = 0; i < def.tools.rngs.size(); ++i) {
        const RngDef& r = def.tools.rngs[i];
        std::string object = "objrng" + std::to_string(i);
        add(argv, {"-object", "rng-random,id=" + object + ",filename=" + r.source});
        std::string device = "virtio-rng-pci,rng=" + object + ",id=rng" + std::to_string(i);
        if (r.rateBytes > 0) {
            device += ",max-bytes=" + std::to_string(r.rateBytes) +
                      ",period=" + std::to_string(r.ratePeriodMs);
        }
        add(argv, {"-device", device + pci(def, r.address)});
    }
}

void addTpm(const DomainDef& def, const QemuLaunch& launch, Argv& argv) {
    if (!def.tools.tpm) {
        return;
    }
    // swtpm, run by the shim, is on the other end of this socketpair.
    add(argv, {"-chardev", "socket,id=chrtpm,fd=" + std::to_string(launch.tpmFd)});
    add(argv, {"-tpmdev", "emulator,id=tpm-tpm0,chardev=chrtpm"});
    add(argv, {"-device", def.tools.tpm->model + ",tpmdev=tpm-tpm0,id=tpm0"});
}

// USB redirection from the SPICE client: a spicevmc chardev named "usbredir" each.
void addRedirdevs(const DomainDef& def, Argv& argv) {
    bool q35 = isQ35(def);
    for (size_t i = 0; i < def.tools.redirdevs.size(); ++i) {
        std::string chardev = "charredir" + std::to_string(i);
        add(argv, {"-chardev", "spicevmc,id=" + chardev + ",name=usbredir"});
        std::string dev = "usb-redir,chardev=" + chardev + ",id=redir" + std::to_string(i);
        const auto* usb = std::get_if<UsbAddress>(&def.tools.redirdevs[i].address);
        dev += ",bus=" + qemuControllerId("usb", usb ? usb->bus : 0, q35) + ".0";
        if (usb && !usb->port.empty()) {
            dev += ",port=" + usb->port;
        }
        add(argv, {"-device", dev});
    }
}

void addWatchdogAndPanic(const DomainDef& def, Argv& argv) {
    if (const auto& w = def.tools.watchdog) {
        if (w->model == "i6300esb") {
            add(argv, {"-device", "i6300esb,id=watchdog0" + pci(def, w->address)});
        } else {
            // iTCO is part of q35's ICH9 LPC bridge; it only resets the guest when allowed.
            add(argv, {"-global", "ICH9-LPC.noreboot=off"});
        }
        add(argv, {"-action", "watchdog=" + w->action});
    }
    for (const auto& p : def.tools.panics) {
        add(argv, {"-device", p.model == "isa" ? "pvpanic,ioport=" + std::to_string(p.ioport)
                                               : "pvpanic-pci" + pci(def, p.address)});
    }
}

void addSmbios(const DomainDef& def, Argv& argv) {
    for (const auto& table : def.tools.smbios) {
        std::string option = "type=" + std::to_string(table.type);
        for (const auto& [name, value] : table.fields) {
            option += "," + name + "=" + qemuEscapeCommas(value);
        }
        add(argv, {"-smbios", option});
    }
}

} // namespace

std::string qemuSerialChardev(const CharDeviceDef& serial, const std::string& id,
                              const QemuLaunch& launch) {
    std::string backend;
    if (serial.type == "file") {
        backend = "file,id=" + id + ",path=" + qemuEscapeCommas(qemuFilePath(launch, serial.path));
    } else if (serial.type == "unix") {
        auto fd = launch.socketFds.find(id);
        backend = "socket,id=" + id +
                  (fd != launch.socketFds.end() ? ",fd=" + std::to_string(fd->second)
                                                : ",path=" + qemuEscapeCommas(serial.path));
        if (serial.unixListen) {
            backend += ",server=on,wait=off";
        }
    } else {
        backend = "pty,id=" + id;
    }
    if (!serial.logFile.empty()) {
        bool append = serial.logAppend || launch.pipedOutputs.count(serial.logFile) > 0;
        backend += ",logfile=" + qemuEscapeCommas(qemuFilePath(launch, serial.logFile)) +
                   ",logappend=" + (append ? "on" : "off");
    }
    return backend;
}

void addToolDevices(const DomainDef& def, const QemuLaunch& launch, Argv& argv) {
    addSpice(def, launch, argv);
    addVideos(def, argv);
    addAudio(def, argv);
    addChannels(def, launch, argv);
    addRngs(def, argv);
    addTpm(def, launch, argv);
    addWatchdogAndPanic(def, argv);
    addRedirdevs(def, argv);
    addSmbios(def, argv);
}

} // namespace virtswarm::shim
