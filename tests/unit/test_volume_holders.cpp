// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_holders.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::storage;

namespace {

const std::string kDomain = "0c1f6f2a-3c1b-4c4e-9d8e-2a3b4c5d6e7f";

std::string tempFile() {
    auto dir = std::filesystem::temp_directory_path() /
               ("vs-holders-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "holders").string();
}

} // namespace

TEST(VolumeHolders, AHeldVolumeIsInUseUntilReleasedOrForgotten) {
    VolumeHolders holders("");
    ASSERT_TRUE(holders.add({":1.7", kDomain, "/pool/a"}));
    ASSERT_TRUE(holders.add({":1.7", kDomain, "/pool/a"})); // the same hold once
    ASSERT_TRUE(holders.add({":1.7", kDomain, "/pool/b"}));
    ASSERT_TRUE(holders.add({":1.9", kDomain, "/pool/b"}));
    EXPECT_EQ(holders.all().size(), 3u);
    auto refused = holders.checkNotInUse("/pool/a", "a");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), Code::InvalidState);
    EXPECT_EQ(refused.error().message(), "storage volume 'a' is in use");
    EXPECT_TRUE(holders.checkNotInUse("/pool/c", "c"));

    EXPECT_EQ(holders.release(":1.9", kDomain, "/pool/a"), 0u); // not its hold
    EXPECT_EQ(holders.release(":1.7", kDomain, "/pool/a"), 1u);
    EXPECT_FALSE(holders.inUse("/pool/a"));
    EXPECT_EQ(holders.forget(":1.7"), 1u);
    EXPECT_TRUE(holders.inUse("/pool/b")); // :1.9 still holds it
    EXPECT_EQ(holders.release(":1.9", kDomain, ""), 1u);
    EXPECT_FALSE(holders.inUse("/pool/b"));
}

TEST(VolumeHolders, BadHoldsAreRefused) {
    VolumeHolders holders("");
    EXPECT_EQ(holders.add({"org.example", kDomain, "/p"}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(holders.add({":1.2", "nope", "/p"}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(holders.add({":1.2", kDomain, "relative"}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(holders.add({":1.2", kDomain, "/new\nline"}).error().code(), Code::InvalidArgs);
    EXPECT_TRUE(holders.all().empty());
}

TEST(VolumeHolders, HoldsAreRecordedAndMalformedRecordsIgnored) {
    std::string file = tempFile();
    {
        VolumeHolders holders(file);
        ASSERT_TRUE(holders.add({":1.7", kDomain, "/pool/a b"}));
        ASSERT_TRUE(holders.add({":1.8", kDomain, "/pool/b"}));
        holders.forget(":1.8");
    }
    {
        std::ofstream extra(file, std::ios::app);
        extra << "garbage\n:1.9 not-a-uuid /x\n:1.9 " << kDomain << " relative\n";
    }
    VolumeHolders again(file);
    again.load();
    ASSERT_EQ(again.all().size(), 1u);
    EXPECT_EQ(again.all().begin()->holder, ":1.7");
    EXPECT_EQ(again.all().begin()->path, "/pool/a b");
    EXPECT_EQ(again.holders(), std::vector<std::string>{":1.7"});
    std::filesystem::remove_all(std::filesystem::path(file).parent_path());
}
