// SPDX-License-Identifier: LGPL-2.1-or-later
// Whether a media change names the image already in the drive: by the file, as lockd
// keys its leases, not by the spelling of its path.
#include "disk_leases.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::shim;
namespace fs = std::filesystem;

class SameImage : public ::testing::Test {
protected:
    // A process per test (gtest_discover_tests): the pid keeps parallel runs apart.
    void SetUp() override {
        fs::remove_all(dir);
        fs::create_directories(dir + "/sub");
        std::ofstream(dir + "/sub/a.iso") << "a";
        std::ofstream(dir + "/sub/b.iso") << "b";
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string dir = ::testing::TempDir() + "vs-same-image-" + std::to_string(::getpid());
    HostPathOpener opener;
};

TEST_F(SameImage, OneFileByAnyName) {
    std::string a = dir + "/sub/a.iso";
    fs::create_symlink(a, dir + "/link.iso");
    fs::create_hard_link(a, dir + "/hard.iso");
    EXPECT_TRUE(sameImage(opener, a, a));
    EXPECT_TRUE(sameImage(opener, a, dir + "/link.iso"));
    EXPECT_TRUE(sameImage(opener, dir + "/link.iso", a));
    EXPECT_TRUE(sameImage(opener, a, dir + "//sub/./a.iso"));
    EXPECT_TRUE(sameImage(opener, a, dir + "/sub/../sub/a.iso"));
    EXPECT_TRUE(sameImage(opener, a, dir + "/hard.iso"));
}

TEST_F(SameImage, TwoFilesAreTwoImages) {
    EXPECT_FALSE(sameImage(opener, dir + "/sub/a.iso", dir + "/sub/b.iso"));
    fs::create_symlink(dir + "/sub/b.iso", dir + "/link.iso");
    EXPECT_FALSE(sameImage(opener, dir + "/sub/a.iso", dir + "/link.iso"));
}

// A name that cannot be looked up (gone, or not reachable for the definer) is compared
// as a string: only the very same name is the same image.
TEST_F(SameImage, UnreachableNamesCompareAsStrings) {
    std::string gone = dir + "/gone.iso";
    EXPECT_TRUE(sameImage(opener, gone, gone));
    EXPECT_FALSE(sameImage(opener, gone, dir + "/./gone.iso"));
    EXPECT_FALSE(sameImage(opener, dir + "/sub/a.iso", gone));
    EXPECT_FALSE(sameImage(opener, gone, dir + "/sub/a.iso"));
    // A dangling symbolic link names no file either.
    fs::create_symlink(gone, dir + "/dangling.iso");
    EXPECT_FALSE(sameImage(opener, gone, dir + "/dangling.iso"));
}

// An eject (no new source) or an empty drive (no old one) changes the image.
TEST_F(SameImage, NoSourceIsNoImage) {
    EXPECT_FALSE(sameImage(opener, "", dir + "/sub/a.iso"));
    EXPECT_FALSE(sameImage(opener, dir + "/sub/a.iso", ""));
}
