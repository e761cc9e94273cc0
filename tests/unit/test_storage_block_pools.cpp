// SPDX-License-Identifier: LGPL-2.1-or-later
// fs and logical pools on storage the test makes: an image file mounted through a loop
// device, and an LVM volume group on a loop device (losetup). Both need root; everything
// made is taken apart again, also when an assertion fails.
#include "storage_fixture.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::storage;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using virtswarm::storage::fixtures::StorageFixture;

namespace {

std::string run(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (p == nullptr) {
        return out;
    }
    char buf[256];
    while (fgets(buf, sizeof buf, p) != nullptr) {
        out += buf;
    }
    pclose(p);
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

class BlockPools : public StorageFixture {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "mounting and losetup need root";
        }
        StorageFixture::SetUp();
    }
    void TearDown() override {
        pools.clear();
        if (dir.empty()) {
            return;
        }
        ::umount2((dir + "/mnt").c_str(), MNT_DETACH);
        if (!vg.empty()) {
            run("LVM_SUPPRESS_FD_WARNINGS=1 vgremove -f " + vg + " 2>/dev/null");
        }
        if (!loopDevice.empty()) {
            run("LVM_SUPPRESS_FD_WARNINGS=1 pvremove -y " + loopDevice + " 2>/dev/null");
            run("losetup -d " + loopDevice);
        }
        StorageFixture::TearDown();
    }

    std::string image(const std::string& name, const char* size) {
        std::string path = dir + "/" + name;
        run(std::string("truncate -s ") + size + " " + path);
        return path;
    }

    std::string loopDevice;
    std::string vg;
};

bool mountedAt(const std::string& path) {
    return run("findmnt -n -o TARGET " + path) == path;
}

TEST_F(BlockPools, FsPoolMakesAFileSystemMountsItAndHoldsVolumes) {
    std::string backing = image("fs.img", "64M");
    std::string mnt = dir + "/mnt";
    Pool& p = makePool("<pool type='fs'><name>fsp</name><source><device path='" + backing +
                       "'/><format type='ext4'/></source><target><path>" + mnt +
                       "</path></target></pool>");
    ASSERT_TRUE(wait([&](auto done) { p.build(done); }));
    EXPECT_EQ(run("blkid -o value -s TYPE " + backing), "ext4");
    ASSERT_TRUE(wait([&](auto done) { p.start(done); }));
    EXPECT_TRUE(mountedAt(mnt));
    EXPECT_GT(p.sizes().capacity, 50u << 20);
    EXPECT_LT(p.sizes().capacity, 64u << 20);
    // Building a mounted pool would format it under its volumes.
    EXPECT_EQ(wait([&](auto done) { p.build(done); }).error().code(), Code::InvalidState);
    auto def = parseVolumeXml("<volume><name>v.qcow2</name><capacity unit='G'>4</capacity>"
                              "<target><format type='qcow2'/></target></volume>");
    ASSERT_TRUE(wait([&](auto done) { p.createVolume(def.value(), done); }));
    ASSERT_NE(p.volume("v.qcow2"), nullptr);
    EXPECT_EQ(p.volume("v.qcow2")->capacity, 4ull << 30); // bigger than the pool: sparse
    ASSERT_TRUE(wait([&](auto done) { p.stop(done); }));
    EXPECT_FALSE(mountedAt(mnt));
    EXPECT_FALSE(fs::exists(mnt + "/v.qcow2"));
    // Started again, the volume is there: it lives on the file system, not in the mount
    // point's directory.
    ASSERT_TRUE(wait([&](auto done) { p.start(done); }));
    EXPECT_NE(p.volume("v.qcow2"), nullptr);
    ASSERT_TRUE(wait([&](auto done) { p.stop(done); }));
}

TEST_F(BlockPools, FsPoolOnAMissingDeviceFailsAndStaysInactive) {
    std::string mnt = dir + "/mnt";
    fs::create_directory(mnt);
    Pool& p = makePool("<pool type='fs'><name>gone</name><source><device path='" + dir +
                       "/nothing.img'/></source><target><path>" + mnt + "</path></target></pool>");
    auto r = wait([&](auto done) { p.start(done); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::OperationFailed);
    EXPECT_NE(r.error().message().find("mount"), std::string::npos) << r.error().message();
    EXPECT_EQ(p.state(), PoolState::Inactive);
    EXPECT_FALSE(mountedAt(mnt));
}

TEST_F(BlockPools, LogicalPoolBuildsAVolumeGroupOnALoopDevice) {
    std::string backing = image("pv.img", "64M");
    loopDevice = run("losetup -f --show " + backing);
    ASSERT_TRUE(loopDevice.starts_with("/dev/loop")) << loopDevice;
    vg = "vstest" + std::to_string(getpid());
    Pool& p = makePool("<pool type='logical'><name>" + vg + "</name><source><device path='" +
                       loopDevice + "'/></source></pool>");
    ASSERT_TRUE(wait([&](auto done) { p.build(done); }));
    EXPECT_EQ(run("LVM_SUPPRESS_FD_WARNINGS=1 vgs --noheadings -o vg_name " + vg + " | tr -d ' '"),
              vg);
    ASSERT_TRUE(wait([&](auto done) { p.start(done); }));
    EXPECT_GT(p.sizes().capacity, 56u << 20);
    EXPECT_EQ(p.sizes().available, p.sizes().capacity);
    auto qcow2 = parseVolumeXml("<volume><name>q</name><capacity unit='M'>8</capacity><target>"
                                "<format type='qcow2'/></target></volume>");
    EXPECT_EQ(wait([&](auto done) { p.createVolume(qcow2.value(), done); }).error().code(),
              Code::NotSupported);

    // Logical volumes need the kernel's device-mapper; containers often have none.
    if (run("grep -c device-mapper /proc/misc") == "1") {
        auto raw = parseVolumeXml("<volume><name>lv1</name><capacity unit='M'>8</capacity>"
                                  "</volume>");
        ASSERT_TRUE(wait([&](auto done) { p.createVolume(raw.value(), done); }));
        ASSERT_NE(p.volume("lv1"), nullptr);
        EXPECT_EQ(p.volume("lv1")->capacity, 8u << 20);
        EXPECT_EQ(p.volume("lv1")->path, "/dev/" + vg + "/lv1");
        ASSERT_TRUE(wait([&](auto done) { p.deleteVolume("lv1", done); }));
        EXPECT_EQ(p.volume("lv1"), nullptr);
    }
    // A volume too big for the group is refused by LVM; nothing is left of it.
    auto big = parseVolumeXml("<volume><name>big</name><capacity unit='G'>1</capacity>"
                              "</volume>");
    EXPECT_EQ(wait([&](auto done) { p.createVolume(big.value(), done); }).error().code(),
              Code::OperationFailed);
    EXPECT_EQ(p.volume("big"), nullptr);

    ASSERT_TRUE(wait([&](auto done) { p.stop(done); }));
    ASSERT_TRUE(wait([&](auto done) { p.deleteStorage(done); }));
    EXPECT_EQ(run("LVM_SUPPRESS_FD_WARNINGS=1 vgs --noheadings -o vg_name " + vg + " 2>/dev/null"),
              "");
    vg.clear();
}

} // namespace
