// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/atomic_file.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>

using namespace virtswarm;
namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vs-atomic-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string dir;
};

TEST_F(AtomicFile, WritesAndReplacesWithoutLeavingTempFiles) {
    std::string path = dir + "/a.xml";
    ASSERT_TRUE(writeFileAtomic(path, "one", 0600));
    ASSERT_TRUE(writeFileAtomic(path, "two", 0600));
    EXPECT_EQ(readFile(path).value(), "two");
    int entries = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        (void)e;
        ++entries;
    }
    EXPECT_EQ(entries, 1);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AtomicFile, AFailedWriteKeepsTheOldContent) {
    std::string path = dir + "/b.xml";
    ASSERT_TRUE(writeFileAtomic(path, "old", 0600));
    // The target is a directory now: rename fails, and nothing else must change.
    std::string blocked = dir + "/sub";
    fs::create_directory(blocked);
    fs::create_directory(blocked + "/x");
    auto r = writeFileAtomic(blocked, "new", 0600);
    EXPECT_FALSE(r);
    EXPECT_EQ(readFile(path).value(), "old");
    int temps = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        temps += e.path().filename().string()[0] == '.';
    }
    EXPECT_EQ(temps, 0);
}

TEST_F(AtomicFile, MissingDirectoryIsAnError) {
    auto r = writeFileAtomic(dir + "/nope/c.xml", "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::OperationFailed);
}

TEST_F(AtomicFile, ReadRefusesOversizedFiles) {
    std::string path = dir + "/big";
    ASSERT_TRUE(writeFileAtomic(path, std::string(4096, 'x')));
    EXPECT_FALSE(readFile(path, 1024));
    EXPECT_TRUE(readFile(path, 8192));
}

TEST_F(AtomicFile, RemoveIsIdempotent) {
    std::string path = dir + "/d";
    ASSERT_TRUE(writeFileAtomic(path, "x"));
    EXPECT_TRUE(removeFileDurable(path));
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(removeFileDurable(path));
    EXPECT_TRUE(removeFileDurable(dir + "/no/such/dir/file"));
}

TEST_F(AtomicFile, MakeDirectoriesCreatesParents) {
    ASSERT_TRUE(makeDirectories(dir + "/a/b/c", 0700));
    EXPECT_TRUE(fs::is_directory(dir + "/a/b/c"));
    EXPECT_TRUE(makeDirectories(dir + "/a/b/c", 0700));
}
