// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guest_record.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::guests;

namespace {

std::string scratchDir() {
    char tmpl[] = "/tmp/vs-guest-record-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    return dir != nullptr ? dir : "/tmp";
}

} // namespace

TEST(GuestRecord, WrittenReadAndRemoved) {
    std::string dir = scratchDir();
    std::string path = dir + "/guests/stopped"; // the directory is created on demand
    auto empty = readGuestRecord(path);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty.value().empty());

    std::vector<std::string> uuids{"6a3f1c1e-8b8e-4b4f-9d63-3d9c1e0f2a01",
                                   "0b7e2b6c-5d0e-4f2d-8c1a-7a9e3f1b2c02"};
    ASSERT_TRUE(writeGuestRecord(path, uuids));
    auto read = readGuestRecord(path);
    ASSERT_TRUE(read);
    EXPECT_EQ(read.value(), uuids);

    ASSERT_TRUE(removeGuestRecord(path));
    EXPECT_FALSE(std::filesystem::exists(path));
    std::filesystem::remove_all(dir);
}

TEST(GuestRecord, ALineThatIsNoUuidIsAnError) {
    std::string dir = scratchDir();
    std::string path = dir + "/stopped";
    std::ofstream(path) << "6a3f1c1e-8b8e-4b4f-9d63-3d9c1e0f2a01\n../../etc/passwd\n";
    auto read = readGuestRecord(path);
    ASSERT_FALSE(read);
    EXPECT_NE(read.error().message().find("'../../etc/passwd' is not a UUID"), std::string::npos);
    std::filesystem::remove_all(dir);
}
