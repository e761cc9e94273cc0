// SPDX-License-Identifier: LGPL-2.1-or-later
// External (overlay) snapshots: which disks a request covers and with which files, as
// libvirt aligns them; the definition moved onto the overlays; and the overlays themselves,
// made by the real qemu-img over real images.
#include "external_snapshot.hpp"
#include "loop_driver.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/image_overlay.hpp"
#include "virtswarm/qcow2_header.hpp"

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::hypervisor;

namespace {

DomainXml domainWith(const std::string& disks) {
    auto parsed = parseDomainXml("<domain type='qemu'><name>vm</name><memory>131072</memory>"
                                 "<vcpu>1</vcpu><os><type>hvm</type></os><devices>" +
                                 disks + "</devices></domain>");
    EXPECT_TRUE(parsed) << parsed.error().message();
    return parsed.value();
}

const std::string kTwoDisksAndACdrom =
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/i/vm.qcow2'/><target dev='vda' bus='virtio'/></disk>"
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
    "<source file='/i/data'/><target dev='vdb' bus='virtio'/></disk>"
    "<disk type='file' device='cdrom'><source file='/i/boot.iso'/>"
    "<target dev='sda' bus='sata'/><readonly/></disk>";

SnapshotRequest request(const std::string& disks = "") {
    auto r = parseSnapshotRequest("<domainsnapshot><disks>" + disks + "</disks></domainsnapshot>");
    EXPECT_TRUE(r) << r.error().message();
    return r.value();
}

} // namespace

TEST(ExternalSnapshot, DefaultOverlayNamesAreLibvirts) {
    EXPECT_EQ(defaultOverlayPath("/i/vm.qcow2", "s1"), "/i/vm.s1");
    EXPECT_EQ(defaultOverlayPath("/i/data", "s1"), "/i/data.s1");
    EXPECT_EQ(defaultOverlayPath("/i.d/data", "s1"), "/i.d/data.s1");
    EXPECT_EQ(defaultOverlayPath("/i/vm.s1", "s2"), "/i/vm.s2");
}

TEST(ExternalSnapshot, DiskOnlyCoversEveryWritableDisk) {
    DomainXml domain = domainWith(kTwoDisksAndACdrom);
    EXPECT_TRUE(wantsExternalSnapshot(request(), true));
    EXPECT_FALSE(wantsExternalSnapshot(request(), false));
    auto parts = externalSnapshotDisks(domain.def, request(), "s1");
    ASSERT_TRUE(parts) << parts.error().message();
    EXPECT_EQ(parts.value(), (std::vector<SnapshotDisk>{{"vda", "external", "/i/vm.s1"},
                                                        {"vdb", "external", "/i/data.s1"},
                                                        {"sda", "no", ""}}));

    // A disk left out, another with its own file.
    auto chosen = externalSnapshotDisks(
        domain.def,
        request("<disk name='vda' snapshot='external'><source file='/o/top.qcow2'/></disk>"
                "<disk name='vdb' snapshot='no'/>"),
        "s1");
    ASSERT_TRUE(chosen) << chosen.error().message();
    EXPECT_EQ(chosen.value()[0], (SnapshotDisk{"vda", "external", "/o/top.qcow2"}));
    EXPECT_EQ(chosen.value()[1], (SnapshotDisk{"vdb", "no", ""}));
    EXPECT_TRUE(wantsExternalSnapshot(request("<disk name='vda' snapshot='external'/>"), false));
}

TEST(ExternalSnapshot, RefusalsAreNamed) {
    DomainXml domain = domainWith(kTwoDisksAndACdrom);
    struct Case {
        std::string disks;
        Code code;
    } cases[] = {
        {"<disk name='vdz' snapshot='external'/>", Code::InvalidXML},
        {"<disk name='vda' snapshot='internal'/>", Code::ConfigUnsupported},
        {"<disk name='sda' snapshot='external'/>", Code::ConfigUnsupported},
        // An overlay over an image of the domain, or two disks on one overlay.
        {"<disk name='vda' snapshot='external'><source file='/i/data'/></disk>",
         Code::ConfigUnsupported},
        {"<disk name='vda' snapshot='external'><source file='/o/x'/></disk>"
         "<disk name='vdb' snapshot='external'><source file='/o/x'/></disk>",
         Code::ConfigUnsupported},
        {"<disk name='vda' snapshot='no'/><disk name='vdb' snapshot='no'/>",
         Code::ConfigUnsupported},
    };
    for (const auto& c : cases) {
        auto r = externalSnapshotDisks(domain.def, request(c.disks), "s1");
        ASSERT_FALSE(r) << c.disks;
        EXPECT_EQ(r.error().code(), c.code) << c.disks << ": " << r.error().message();
    }
    DomainXml volume = domainWith("<disk type='volume' device='disk'><driver type='qcow2'/>"
                                  "<source pool='p' volume='v'/><target dev='vda'/></disk>");
    auto r = externalSnapshotDisks(volume.def, request(), "s1");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::ConfigUnsupported);
}

TEST(ExternalSnapshot, TheDefinitionMovesOntoTheOverlays) {
    DomainXml domain = domainWith(kTwoDisksAndACdrom);
    SnapshotDef snapshot;
    snapshot.disks = {{"vda", "no", ""}, {"vdb", "external", "/o/data.s1"}, {"sda", "no", ""}};
    auto moved = withSnapshotOverlays(domain, snapshot);
    ASSERT_TRUE(moved) << moved.error().message();
    EXPECT_EQ(moved.value().def.disks[0].source, "/i/vm.qcow2");
    EXPECT_EQ(moved.value().def.disks[1].source, "/o/data.s1");
    EXPECT_EQ(moved.value().def.disks[1].format, "qcow2");
    EXPECT_EQ(moved.value().def.disks[2].source, "/i/boot.iso");
    auto plans = overlayPlans(domain.def, snapshot);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].base, "/i/data");
    EXPECT_EQ(plans[0].baseFormat, "raw");
    EXPECT_EQ(plans[0].overlay, "/o/data.s1");

    auto missing = withDiskOverlay(domain, "vdz", "/o/x");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Code::DeviceMissing);
}

struct OverlayFiles : ::testing::Test {
    void SetUp() override {
        char tmpl[] = "/tmp/vs-overlay-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        loop = std::move(EventLoop::create()).value();
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    static void makeRawImage(const std::string& path, uintmax_t size) {
        std::ofstream{path};
        std::filesystem::resize_file(path, size);
    }

    Result<void> create(std::vector<OverlayPlan> plans) {
        std::optional<Result<void>> out;
        createOverlays(*loop, HostPathOpener(), std::move(plans),
                       [&](Result<void> r) { out = std::move(r); });
        EXPECT_TRUE(testing_loop::runUntil(
            *loop, [&] { return out.has_value(); }, std::chrono::seconds(60)));
        return out.value_or(Error(Code::Internal, "createOverlays did not finish"));
    }

    std::string dir;
    std::unique_ptr<EventLoop> loop;
};

TEST_F(OverlayFiles, EachOverlayRecordsItsBaseAndSize) {
    std::string base = dir + "/data";
    makeRawImage(base, 3 * 1024 * 1024);
    std::string overlay = dir + "/data.s1";
    ASSERT_TRUE(create({{"vdb", base, "raw", overlay}}));
    int fd = ::open(overlay.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    auto header = readQcow2Header(fd);
    ::close(fd);
    ASSERT_TRUE(header && header.value()) << overlay;
    EXPECT_EQ(header.value()->virtualSize, 3u * 1024 * 1024);
    ASSERT_TRUE(header.value()->backing.has_value());
    EXPECT_EQ(header.value()->backing->file, base);
    EXPECT_EQ(header.value()->backing->format, "raw");
    EXPECT_EQ(std::filesystem::status(overlay).permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(OverlayFiles, AnExistingFileIsNeverOverwrittenAndAFailureRemovesWhatWasMade) {
    std::string base = dir + "/vm.raw";
    makeRawImage(base, 1024 * 1024);
    std::string existing = dir + "/taken";
    std::ofstream(existing) << "keep me";
    std::string first = dir + "/vm.s1";
    auto r = create({{"vda", base, "raw", first}, {"vdb", base, "raw", existing}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::ConfigUnsupported) << r.error().message();
    EXPECT_FALSE(std::filesystem::exists(first)); // the one made before is gone again
    std::ifstream kept(existing);
    std::string text;
    std::getline(kept, text);
    EXPECT_EQ(text, "keep me");

    auto noBase = create({{"vda", dir + "/absent", "raw", dir + "/absent.s1"}});
    ASSERT_FALSE(noBase);
    EXPECT_FALSE(std::filesystem::exists(dir + "/absent.s1"));
}

// REUSE_EXT: the user's overlay is used as it is; a missing or non-qcow2 one is refused,
// and a failure never removes a file the user made.
TEST_F(OverlayFiles, AReusedOverlayIsCheckedAndNeverTouched) {
    std::string base = dir + "/vm.raw";
    makeRawImage(base, 1024 * 1024);
    std::string mine = dir + "/mine.qcow2";
    ASSERT_EQ(std::system(("qemu-img create -q -f qcow2 -F raw -b " + base + " " + mine).c_str()),
              0);
    auto before = std::filesystem::last_write_time(mine);
    ASSERT_TRUE(create({{"vda", base, "raw", mine, true}}));
    EXPECT_EQ(std::filesystem::last_write_time(mine), before);

    auto missing = create({{"vda", base, "raw", dir + "/nowhere", true}});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Code::ConfigUnsupported);
    EXPECT_NE(missing.error().message().find("missing existing file for disk vda"),
              std::string::npos)
        << missing.error().message();

    std::string text = dir + "/notes";
    std::ofstream(text) << "not an image";
    // The made overlay goes again at the failure; the user's files stay.
    std::string made = dir + "/vm.s2";
    auto notQcow2 = create({{"vda", base, "raw", mine, true},
                            {"vdb", base, "raw", made},
                            {"vdc", base, "raw", text, true}});
    ASSERT_FALSE(notQcow2);
    EXPECT_EQ(notQcow2.error().code(), Code::ConfigUnsupported);
    EXPECT_FALSE(std::filesystem::exists(made));
    EXPECT_TRUE(std::filesystem::exists(mine) && std::filesystem::exists(text));
    removeOverlays(HostPathOpener(), {{"vda", base, "raw", mine, true}});
    EXPECT_TRUE(std::filesystem::exists(mine));
}
