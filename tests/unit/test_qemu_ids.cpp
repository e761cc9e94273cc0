// SPDX-License-Identifier: LGPL-2.1-or-later
// QEMU device ids: the names the command line, hotplug and statistics share.
#include "qemu_command.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/domain_def.hpp"

#include <algorithm>
#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::shim;

TEST(QemuIds, DisksAreNamedAfterTheirTargetAndTheirBackendRoundTrips) {
    EXPECT_EQ(qemu_id::disk("vda"), "vda");
    EXPECT_EQ(qemu_id::diskNode("vda"), "drive-vda");
    EXPECT_EQ(qemu_id::diskOfNode("drive-vda"), "vda");
    EXPECT_EQ(qemu_id::diskOfNode(qemu_id::diskNode(qemu_id::disk("sdab"))), "sdab");
    // Backends QEMU names itself, or nothing after the prefix, are no disk of ours.
    EXPECT_EQ(qemu_id::diskOfNode("#block123"), std::nullopt);
    EXPECT_EQ(qemu_id::diskOfNode("drive-"), std::nullopt);
    EXPECT_EQ(qemu_id::diskOfNode(""), std::nullopt);
}

TEST(QemuIds, NicsAtBootByIndexHotpluggedByMac) {
    EXPECT_EQ(qemu_id::bootNic(0), "net0");
    EXPECT_EQ(qemu_id::bootNic(12), "net12");
    EXPECT_EQ(qemu_id::hotplugNic("52:54:00:12:34:56"), "net-525400123456");
    EXPECT_EQ(qemu_id::nicBackend("net0"), "hostnet0");
    EXPECT_EQ(qemu_id::nicBackend("net-525400123456"), "hostnet-525400123456");
    EXPECT_EQ(qemu_id::nicTapFd("net-525400123456"), "fd-net-525400123456");
    // A hotplugged id never collides with a boot-time one.
    for (size_t i = 0; i < 32; ++i) {
        EXPECT_NE(qemu_id::bootNic(i),
                  qemu_id::hotplugNic("00:00:00:00:00:0" + std::to_string(i % 10)));
    }
}

TEST(QemuIds, OtherDevices) {
    EXPECT_EQ(qemu_id::serial(0), "serial0");
    EXPECT_EQ(qemu_id::serial(3), "serial3");
    EXPECT_EQ(qemu_id::input(1), "input1");
    EXPECT_EQ(qemu_id::balloon(), "balloon0");
}

// The command line uses the same ids: what hotplug, unplug and statistics look for.
TEST(QemuIds, TheCommandLineUsesThem) {
    auto parsed = parseDomainXml(
        "<domain type='qemu'><name>ids</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<memory unit='KiB'>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/tmp/a.qcow2'/><target dev='vdb' bus='virtio'/></disk>"
        "<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/>"
        "</interface><serial type='pty'/></devices></domain>");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    QemuLaunch launch;
    launch.qmpFd = 3;
    auto argv = buildQemuArgv(parsed.value().def, launch);
    auto has = [&argv](const std::string& needle) {
        return std::any_of(argv.begin(), argv.end(), [&needle](const std::string& a) {
            return a.find(needle) != std::string::npos;
        });
    };
    std::string disk = qemu_id::disk("vdb");
    EXPECT_TRUE(has("id=" + qemu_id::diskNode(disk))) << "drive backend";
    EXPECT_TRUE(has("drive=" + qemu_id::diskNode(disk) + ",id=" + disk)) << "disk device";
    std::string nic = qemu_id::bootNic(0);
    EXPECT_TRUE(has("user,id=" + qemu_id::nicBackend(nic))) << "netdev";
    EXPECT_TRUE(has("netdev=" + qemu_id::nicBackend(nic) + ",id=" + nic)) << "nic device";
    EXPECT_TRUE(has("chardev:" + qemu_id::serial(0))) << "serial";
}

TEST(QemuIds, DeletedDevicesAreNamedByIdOrByTheirQomPath) {
    EXPECT_EQ(qemu_id::deletedDeviceId("net0", "/machine/peripheral/net0"), "net0");
    // An unplugged x86 vCPU: QEMU 7.2 reports its local APIC only.
    EXPECT_EQ(qemu_id::deletedDeviceId("", "/machine/peripheral/vcpu2/lapic"), "vcpu2");
    EXPECT_EQ(qemu_id::deletedDeviceId("", "/machine/peripheral/vcpu2"), "vcpu2");
    EXPECT_TRUE(qemu_id::isVcpu(qemu_id::vcpu(2)));
    EXPECT_FALSE(qemu_id::isVcpu(qemu_id::disk("vda")));
    // Devices without an id live elsewhere in QOM: nothing to match.
    EXPECT_EQ(qemu_id::deletedDeviceId("", "/machine/peripheral-anon/device[3]"), "");
    EXPECT_EQ(qemu_id::deletedDeviceId("", ""), "");
}
