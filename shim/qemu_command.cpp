// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_command.hpp"

#include "qemu_controllers.hpp"
#include "qemu_disks.hpp"
#include "qemu_ids.hpp"
#include "qemu_platform.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::shim {
namespace {

std::string bootOrder(const std::vector<std::string>& devices) {
    std::string order;
    for (const auto& d : devices) {
        order += d == "hd" ? 'c' : d == "cdrom" ? 'd' : d == "network" ? 'n' : 'a';
    }
    return order;
}

} // namespace

std::string qemuEscapeCommas(const std::string& value) {
    std::string out;
    for (char c : value) {
        out += c;
        if (c == ',') {
            out += ',';
        }
    }
    return out;
}

std::string qemuFilePath(const QemuLaunch& launch, const std::string& path) {
    auto it = launch.pathToFdset.find(path);
    return it == launch.pathToFdset.end() ? path : "/dev/fdset/" + std::to_string(it->second);
}

std::string qemuNicDevice(const std::string& model) {
    if (model == "e1000") {
        return "e1000";
    }
    if (model == "rtl8139" || model == "e1000e") {
        return model;
    }
    return "virtio-net-pci";
}

std::vector<std::string> buildQemuArgv(const DomainDef& def, const QemuLaunch& launch) {
    std::vector<std::string> argv;
    argv.push_back(def.emulator.empty() ? kDefaultEmulator : def.emulator);
    argv.insert(argv.end(), {"-name", "guest=" + qemuEscapeCommas(def.name) + ",debug-threads=on"});
    argv.insert(argv.end(), {"-uuid", formatUuid(def.uuid)});
    // -no-shutdown: a guest power-off stops QEMU instead of ending it, so the shim sees
    // the SHUTDOWN event and decides (quit, or reset for a reboot).
    argv.insert(argv.end(), {"-nodefaults", "-no-user-config", "-no-shutdown"});
    if (launch.startPaused) {
        argv.push_back("-S");
    }
    argv.insert(argv.end(), {"-machine", qemuMachineOption(def)});
    argv.insert(argv.end(), {"-accel", def.virtType == "kvm" ? "kvm" : "tcg"});
    addPlatformArgs(def, launch, argv);
    // QEMU's -m is in MiB; round up so the guest never gets less than it asked for.
    uint64_t mib = (def.memoryKiB + 1023) / 1024;
    argv.insert(argv.end(), {"-m", std::to_string(mib)});
    // <vcpu current='N'>M</vcpu>: N online at boot, room for M (libvirt's -smp N,maxcpus=M).
    std::string smp = std::to_string(def.vcpusCurrent);
    if (def.vcpusCurrent < def.vcpus) {
        smp += ",maxcpus=" + std::to_string(def.vcpus);
    }
    argv.insert(argv.end(), {"-smp", smp});

    argv.insert(argv.end(), {"-chardev", "socket,id=monitor,fd=" + std::to_string(launch.qmpFd) +
                                             ",server=on,wait=off"});
    argv.insert(argv.end(), {"-mon", "chardev=monitor,mode=control"});

    if (!def.kernel.empty()) {
        argv.insert(argv.end(), {"-kernel", def.kernel});
    }
    if (!def.initrd.empty()) {
        argv.insert(argv.end(), {"-initrd", def.initrd});
    }
    if (!def.cmdline.empty()) {
        argv.insert(argv.end(), {"-append", def.cmdline});
    }
    if (!def.bootDevices.empty()) {
        argv.insert(argv.end(), {"-boot", "order=" + bootOrder(def.bootDevices)});
    }

    addControllers(def, argv);
    addDisks(def, launch, argv);

    bool q35 = isQ35Machine(def.machine);
    for (size_t i = 0; i < def.interfaces.size(); ++i) {
        const auto& nic = def.interfaces[i];
        std::string id = qemu_id::bootNic(i);
        std::string backend = qemu_id::nicBackend(id);
        auto tap = launch.tapFds.find(i);
        argv.insert(argv.end(),
                    {"-netdev", tap == launch.tapFds.end()
                                    ? "user,id=" + backend
                                    : "tap,id=" + backend + ",fd=" + std::to_string(tap->second)});
        argv.insert(argv.end(),
                    {"-device", qemuNicDevice(nic.model) + ",netdev=" + backend + ",id=" + id +
                                    ",mac=" + nic.mac + qemuPciAddressSuffix(nic.address, q35)});
    }
    addInputsAndBalloon(def, argv);

    for (size_t i = 0; i < def.serials.size(); ++i) {
        const auto& serial = def.serials[i];
        std::string id = qemu_id::serial(i);
        argv.insert(argv.end(), {"-chardev", qemuSerialChardev(serial, id, launch)});
        argv.insert(argv.end(), {"-serial", "chardev:" + id});
    }

    if (def.graphics.empty()) {
        argv.insert(argv.end(), {"-display", "none"});
    }
    for (const auto& g : def.graphics) {
        if (g.type != "vnc") {
            continue; // SPICE: addToolDevices
        }
        // QEMU counts VNC displays from port 5900; "to=" lets it pick a free one.
        std::string vnc = g.listen + ":" + (g.autoport ? "0,to=99" : std::to_string(g.port - 5900));
        if (g.passwd) {
            // VNC authentication, with the password set over the monitor before the guest
            // runs (Machine::setGraphicsPassword): never on this world-readable line.
            vnc += ",password=on";
        }
        argv.insert(argv.end(), {"-vnc", vnc});
        break; // QEMU has one VNC server
    }
    addToolDevices(def, launch, argv);
    for (auto [fd, set] : launch.addFds) {
        argv.insert(argv.end(),
                    {"-add-fd", "fd=" + std::to_string(fd) + ",set=" + std::to_string(set)});
    }
    if (launch.sandbox) {
        argv.insert(argv.end(), {"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                                             "resourcecontrol=deny"});
    }
    argv.insert(argv.end(), {"-msg", "timestamp=on"});
    return argv;
}

} // namespace virtswarm::shim
