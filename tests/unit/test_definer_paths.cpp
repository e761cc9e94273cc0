// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/host_path_opener.hpp"

#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace virtswarm;
using virtswarm::HostPathOpener;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kNobody = 65534;

class DefinerPaths : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vs-definer-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        ::chmod(dir.c_str(), 0755);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::string file(const std::string& name, const std::string& text, mode_t mode) {
        std::string path = dir + "/" + name;
        EXPECT_TRUE(writeFileAtomic(path, text, mode));
        return path;
    }

    std::string dir;
};

void expectDenied(const Result<int>& r, const std::string& path, const std::string& why) {
    ASSERT_FALSE(r) << path;
    EXPECT_EQ(r.error().code(), Code::AccessDenied);
    EXPECT_NE(r.error().message().find(path), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
}

} // namespace

TEST_F(DefinerPaths, OutputIsTruncatedWhenItIsOurs) {
    std::string path = file("serial.log", "old run", 0600);
    auto fd = HostPathOpener().openOutput(path, "serial0 log");
    ASSERT_TRUE(fd) << fd.error().message();
    ::close(fd.value());
    EXPECT_EQ(readFile(path).value(), "");
}

TEST_F(DefinerPaths, OutputIsCreatedWhenMissing) {
    std::string path = dir + "/new.log";
    auto fd = HostPathOpener().openOutput(path, "serial0 log");
    ASSERT_TRUE(fd) << fd.error().message();
    EXPECT_EQ(::fcntl(fd.value(), F_GETFL) & O_NONBLOCK, 0);
    ::close(fd.value());
    EXPECT_TRUE(fs::is_regular_file(path));
}

TEST_F(DefinerPaths, OutputIsNeverReachedThroughASymlink) {
    std::string target = file("victim", "precious", 0644);
    std::string link = dir + "/serial.log";
    fs::create_symlink(target, link);
    expectDenied(HostPathOpener().openOutput(link, "serial0 log"), link, "symbolic link");
    fs::create_directory_symlink(dir, dir + "/up");
    std::string viaDir = dir + "/up/victim";
    expectDenied(HostPathOpener().openOutput(viaDir, "serial0 log"), viaDir, "symbolic link");
    EXPECT_EQ(readFile(target).value(), "precious");
}

TEST_F(DefinerPaths, OutputIsNeitherAFifoNorAHardLink) {
    std::string fifo = dir + "/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Refused at once (no reader: ENXIO) instead of hanging the shim in open().
    auto r = HostPathOpener().openOutput(fifo, "serial0 log");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find(fifo), std::string::npos) << r.error().message();
    std::string target = file("victim", "precious", 0644);
    std::string hardLink = dir + "/serial.log";
    fs::create_hard_link(target, hardLink);
    expectDenied(HostPathOpener().openOutput(hardLink, "serial0 log"), hardLink, "links");
    EXPECT_EQ(readFile(target).value(), "precious");
}

TEST_F(DefinerPaths, OutputOfAnotherOwnerIsLeftAlone) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root to give the file away";
    }
    std::string path = file("serial.log", "theirs", 0644);
    ASSERT_EQ(::chown(path.c_str(), kNobody, static_cast<gid_t>(-1)), 0);
    expectDenied(HostPathOpener().openOutput(path, "serial0 log"), path, "belongs to uid");
    EXPECT_EQ(readFile(path).value(), "theirs");
}

TEST_F(DefinerPaths, TheDefinerOpensOnlyWhatItMay) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "switching to the definer's credentials needs root";
    }
    auto opener = HostPathOpener::forDefiner(kNobody);
    ASSERT_TRUE(opener) << opener.error().message();
    ASSERT_TRUE(opener.value().switchesCredentials());
    std::string secret = file("secret.img", "secret", 0600);
    std::string shared = file("shared.img", "shared", 0644);
    expectDenied(opener.value().openImage(secret, O_RDONLY, "disk vda"), secret,
                 "Permission denied");
    auto fd = opener.value().openImage(shared, O_RDONLY, "disk vda");
    ASSERT_TRUE(fd) << fd.error().message();
    ::close(fd.value());
    expectDenied(opener.value().openImage(shared, O_RDWR, "disk vda"), shared, "uid 65534");
    EXPECT_FALSE(opener.value().checkReadable(secret, "kernel"));
    EXPECT_TRUE(opener.value().checkReadable(shared, "kernel"));
    // Root's own rights are back after each open.
    fd = HostPathOpener().openImage(secret, O_RDWR, "disk vda");
    ASSERT_TRUE(fd) << fd.error().message();
    ::close(fd.value());
}

TEST_F(DefinerPaths, TheDefinerRunsOnlyEmulatorsRootInstalled) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "switching to the definer's credentials needs root";
    }
    auto opener = HostPathOpener::forDefiner(kNobody);
    ASSERT_TRUE(opener) << opener.error().message();
    EXPECT_TRUE(opener.value().checkEmulator("/bin/true"));
    std::string theirs = file("qemu-theirs", "#!/bin/sh\n", 0755);
    ASSERT_EQ(::chown(theirs.c_str(), kNobody, static_cast<gid_t>(-1)), 0);
    std::string writable = file("qemu-writable", "#!/bin/sh\n", 0755);
    ASSERT_EQ(::chmod(writable.c_str(), 0777), 0);
    std::string rootOnly = file("qemu-root-only", "#!/bin/sh\n", 0700);
    for (const auto& path : {theirs, writable, rootOnly}) {
        auto r = opener.value().checkEmulator(path);
        ASSERT_FALSE(r) << path;
        EXPECT_EQ(r.error().code(), Code::AccessDenied);
        EXPECT_NE(r.error().message().find(path), std::string::npos) << r.error().message();
    }
    // Root's definitions run what root configured, as before.
    EXPECT_TRUE(HostPathOpener().checkEmulator(theirs));
}

TEST_F(DefinerPaths, RootDefinitionsOpenAsTheShim) {
    auto opener = HostPathOpener::forDefiner(0);
    ASSERT_TRUE(opener);
    EXPECT_FALSE(opener.value().switchesCredentials());
}
