// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_command.hpp"

#include <algorithm>
#include <gtest/gtest.h>

using namespace virtswarm;
using virtswarm::shim::buildQemuArgv;
using virtswarm::shim::QemuLaunch;

namespace {

DomainDef parse(const std::string& devices, const std::string& type = "qemu",
                const std::string& features = "<features><acpi/></features>") {
    auto r = parseDomainXml("<domain type='" + type +
                            "'><name>vm,1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
                            "<memory unit='KiB'>131073</memory><vcpu>2</vcpu>"
                            "<os><type>hvm</type><kernel>/boot/k</kernel><initrd>/boot/i</initrd>"
                            "<cmdline>console=ttyS0 quiet</cmdline></os>" +
                            features + "<devices>" + devices + "</devices></domain>");
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r.value().def;
}

// The value following `option` (the first occurrence after `from`).
std::string valueOf(const std::vector<std::string>& argv, const std::string& option,
                    size_t nth = 0) {
    size_t seen = 0;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == option && seen++ == nth) {
            return argv[i + 1];
        }
    }
    return "<missing>";
}

bool has(const std::vector<std::string>& argv, const std::string& arg) {
    return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

} // namespace

TEST(QemuArgv, BaseCommandLine) {
    QemuLaunch launch;
    launch.qmpFd = 3;
    auto argv = buildQemuArgv(parse(""), launch);
    EXPECT_EQ(argv[0], "/usr/bin/qemu-system-x86_64");
    EXPECT_TRUE(has(argv, "-nodefaults"));
    EXPECT_TRUE(has(argv, "-no-user-config"));
    EXPECT_TRUE(has(argv, "-S"));
    EXPECT_EQ(valueOf(argv, "-name"), "guest=vm,,1,debug-threads=on"); // comma escaped
    EXPECT_EQ(valueOf(argv, "-uuid"), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
    EXPECT_EQ(valueOf(argv, "-accel"), "tcg");
    EXPECT_EQ(valueOf(argv, "-machine"), "pc");
    EXPECT_EQ(valueOf(argv, "-m"), "129"); // rounded up to whole MiB
    EXPECT_EQ(valueOf(argv, "-smp"), "2");
    EXPECT_EQ(valueOf(argv, "-chardev"), "socket,id=monitor,fd=3,server=on,wait=off");
    EXPECT_EQ(valueOf(argv, "-mon"), "chardev=monitor,mode=control");
    EXPECT_EQ(valueOf(argv, "-kernel"), "/boot/k");
    EXPECT_EQ(valueOf(argv, "-initrd"), "/boot/i");
    EXPECT_EQ(valueOf(argv, "-append"), "console=ttyS0 quiet");
    EXPECT_EQ(valueOf(argv, "-display"), "none");
}

// <vcpu current='1'>2</vcpu>: one vCPU online at boot, room for two (libvirt's -smp).
TEST(QemuArgv, CurrentVcpusBelowTheMaximum) {
    auto r = parseDomainXml("<domain type='qemu'><name>v</name><memory>131072</memory>"
                            "<vcpu current='1'>2</vcpu><os><type>hvm</type></os></domain>");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(valueOf(buildQemuArgv(r.value().def, QemuLaunch{}), "-smp"), "1,maxcpus=2");
}

TEST(QemuArgv, KvmAndNoAcpi) {
    auto argv = buildQemuArgv(parse("", "kvm", ""), QemuLaunch{});
    EXPECT_EQ(valueOf(argv, "-accel"), "kvm");
    // No <cpu>: libvirt's default model, written into the definition (not the host's).
    EXPECT_EQ(valueOf(argv, "-cpu"), "qemu64");
    EXPECT_EQ(valueOf(argv, "-machine"), "pc,acpi=off");
}

TEST(QemuArgv, Devices) {
    auto argv = buildQemuArgv(
        parse("<emulator>/opt/qemu</emulator>"
              "<disk type='file'><driver type='qcow2'/><source file='/img/a,b.qcow2'/>"
              "<target dev='vda' bus='virtio'/></disk>"
              "<disk type='file' device='cdrom'><source file='/iso'/><target dev='sda' bus='sata'/>"
              "</disk>"
              "<serial type='file'><source path='/var/log/s.log'/></serial>"
              "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
              "<graphics type='vnc' autoport='yes' listen='0.0.0.0'/>"),
        QemuLaunch{});
    EXPECT_EQ(argv[0], "/opt/qemu");
    EXPECT_EQ(valueOf(argv, "-drive", 0), "if=none,id=drive-vda,file=/img/a,,b.qcow2,format=qcow2");
    // Controllers come first (the AHCI the sata cdrom needs), then the disks.
    EXPECT_EQ(valueOf(argv, "-device", 0), "ich9-ahci,id=sata0");
    EXPECT_EQ(valueOf(argv, "-device", 1), "virtio-blk-pci,drive=drive-vda,id=vda");
    EXPECT_EQ(valueOf(argv, "-drive", 1),
              "if=none,id=drive-sda,file=/iso,format=raw,media=cdrom,readonly=on");
    EXPECT_EQ(valueOf(argv, "-device", 2), "ide-cd,bus=sata0.0,drive=drive-sda,id=sda");
    EXPECT_EQ(valueOf(argv, "-netdev"), "user,id=hostnet0");
    EXPECT_EQ(valueOf(argv, "-device", 3),
              "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01");
    EXPECT_EQ(valueOf(argv, "-chardev", 1), "file,id=serial0,path=/var/log/s.log");
    EXPECT_EQ(valueOf(argv, "-serial"), "chardev:serial0");
    EXPECT_EQ(valueOf(argv, "-vnc"), "0.0.0.0:0,to=99");
    EXPECT_FALSE(has(argv, "-display"));
}

TEST(QemuArgv, ConsoleWithoutSerialCreatesOnePort) {
    auto argv = buildQemuArgv(parse("<console type='pty'/>"), QemuLaunch{});
    EXPECT_EQ(valueOf(argv, "-chardev", 1), "pty,id=serial0");
    auto both = buildQemuArgv(parse("<serial type='pty'/><console type='pty'/>"), QemuLaunch{});
    EXPECT_EQ(std::count(both.begin(), both.end(), "-serial"), 1);
}

TEST(QemuArgv, SandboxAndFilesPassedAsFdSets) {
    QemuLaunch launch;
    launch.addFds = {{4, 1}, {5, 1}, {6, 2}};
    launch.pathToFdset = {{"/img/a.raw", 1}, {"/var/log/s.log", 2}};
    auto argv = buildQemuArgv(parse("<disk type='file'><source file='/img/a.raw'/>"
                                    "<target dev='vda' bus='virtio'/></disk>"
                                    "<serial type='file'><source path='/var/log/s.log'/></serial>"),
                              launch);
    EXPECT_EQ(valueOf(argv, "-drive"), "if=none,id=drive-vda,file=/dev/fdset/1,format=raw");
    EXPECT_EQ(valueOf(argv, "-chardev", 1), "file,id=serial0,path=/dev/fdset/2");
    EXPECT_EQ(valueOf(argv, "-add-fd", 0), "fd=4,set=1");
    EXPECT_EQ(valueOf(argv, "-add-fd", 1), "fd=5,set=1");
    EXPECT_EQ(valueOf(argv, "-add-fd", 2), "fd=6,set=2");
    EXPECT_EQ(valueOf(argv, "-sandbox"),
              "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    EXPECT_TRUE(has(argv, "-no-shutdown"));
    launch.sandbox = false;
    EXPECT_FALSE(has(buildQemuArgv(parse(""), launch), "-sandbox"));
}

TEST(QemuArgv, EveryBackingLayerIsNamedWithItsFdSet) {
    QemuLaunch launch;
    launch.pathToFdset = {{"/img/top.qcow2", 1}, {"/img/mid,1.qcow2", 2}, {"/img/base.raw", 3}};
    launch.backingChains["/img/top.qcow2"] = {{"/img/mid,1.qcow2", "qcow2"},
                                              {"/img/base.raw", "raw"}};
    auto argv = buildQemuArgv(parse("<disk type='file'><driver name='qemu' type='qcow2'/>"
                                    "<source file='/img/top.qcow2'/>"
                                    "<target dev='vda' bus='virtio'/></disk>"),
                              launch);
    // QEMU never reads a layer's name from an image: each one is its fd set.
    EXPECT_EQ(valueOf(argv, "-drive"),
              "if=none,id=drive-vda,file=/dev/fdset/1,format=qcow2,backing.driver=qcow2,"
              "backing.file.filename=/dev/fdset/2,backing.backing.driver=raw,"
              "backing.backing.file.filename=/dev/fdset/3");
}

TEST(QemuArgv, VncPasswordIsNeverOnTheCommandLine) {
    auto argv = buildQemuArgv(parse("<graphics type='vnc' port='5901' autoport='no' "
                                    "passwd='s3cr3t' passwdValidTo='2040-01-01T00:00:00'/>"),
                              QemuLaunch{});
    EXPECT_EQ(valueOf(argv, "-vnc"), "127.0.0.1:1,password=on");
    for (const auto& arg : argv) {
        EXPECT_EQ(arg.find("s3cr3t"), std::string::npos) << arg;
    }
}
