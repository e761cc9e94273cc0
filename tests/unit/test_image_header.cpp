// SPDX-License-Identifier: LGPL-2.1-or-later
// The header reader a pool refresh uses instead of `qemu-img info` (image_header.hpp),
// checked against images made by the real qemu-img and against hand-made bad headers.
#include "image_header.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::storage;

namespace {

std::string scratchDir() {
    auto dir = std::filesystem::temp_directory_path() /
               ("vs-header-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

VolumeInfo volumeAt(const std::string& path) {
    VolumeInfo v;
    v.name = std::filesystem::path(path).filename().string();
    v.path = path;
    return v;
}

void run(const std::string& command) {
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

std::string qcow2Header(uint32_t version, uint64_t backingOffset, uint32_t backingSize,
                        uint64_t size) {
    std::string b(104, '\0');
    auto put = [&](size_t at, uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i, v >>= 8) {
            b[at + static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
        }
    };
    put(0, 0x514649fb, 4);
    put(4, version, 4);
    put(8, backingOffset, 8);
    put(16, backingSize, 4);
    put(24, size, 8);
    return b;
}

} // namespace

TEST(ImageHeader, RawAndQcow2ImagesMadeByQemuImg) {
    std::string dir = scratchDir();
    run("qemu-img create -q -f raw " + dir + "/r.img 5M");
    run("qemu-img create -q -f qcow2 " + dir + "/q.qcow2 3G");
    run("qemu-img create -q -f qcow2 -o compat=0.10 " + dir + "/v2.qcow2 1G");
    struct stat st {};
    VolumeInfo raw = volumeAt(dir + "/r.img");
    ASSERT_TRUE(fillFromHeader(raw, st));
    EXPECT_EQ(raw.format, VolumeFormat::Raw);
    EXPECT_EQ(raw.capacity, 5u << 20);
    EXPECT_EQ(raw.allocation, static_cast<uint64_t>(st.st_blocks) * 512);
    VolumeInfo q = volumeAt(dir + "/q.qcow2");
    ASSERT_TRUE(fillFromHeader(q, st));
    EXPECT_EQ(q.format, VolumeFormat::Qcow2);
    EXPECT_EQ(q.capacity, 3ull << 30);
    EXPECT_TRUE(q.backingPath.empty());
    VolumeInfo v2 = volumeAt(dir + "/v2.qcow2");
    ASSERT_TRUE(fillFromHeader(v2, st));
    EXPECT_EQ(v2.capacity, 1ull << 30);
    // A backing file: qemu-img reads the backing format from the header extensions.
    run("qemu-img create -q -f qcow2 -b " + dir + "/q.qcow2 -F qcow2 " + dir + "/o.qcow2");
    VolumeInfo overlay = volumeAt(dir + "/o.qcow2");
    EXPECT_FALSE(fillFromHeader(overlay, st));
    // Another format's image is left to qemu-img too.
    run("qemu-img create -q -f vmdk " + dir + "/d.vmdk 1M");
    VolumeInfo vmdk = volumeAt(dir + "/d.vmdk");
    EXPECT_FALSE(fillFromHeader(vmdk, st));
    // Never through a symbolic link.
    std::filesystem::create_symlink(dir + "/r.img", dir + "/link");
    VolumeInfo link = volumeAt(dir + "/link");
    EXPECT_FALSE(fillFromHeader(link, st));
    std::filesystem::remove_all(dir);
}

TEST(ImageHeader, BadHeadersAreErrorsOrLeftToQemuImg) {
    // Too short to be a qcow2 header.
    EXPECT_FALSE(parseImageHeader(qcow2Header(3, 0, 0, 1).substr(0, 40), 40));
    // An unknown version: qemu-img decides.
    auto v9 = parseImageHeader(qcow2Header(9, 0, 0, 1 << 20), 1 << 20);
    ASSERT_TRUE(v9);
    EXPECT_FALSE(v9.value().has_value());
    // A backing file name out of the file, too long, or of size 0 at an offset.
    EXPECT_FALSE(parseImageHeader(qcow2Header(3, 4096, 16, 1 << 20), 1024));
    EXPECT_FALSE(parseImageHeader(qcow2Header(3, 104, 4096, 1 << 20), 1 << 20));
    EXPECT_FALSE(parseImageHeader(qcow2Header(3, 104, 0, 1 << 20), 1 << 20));
    EXPECT_FALSE(parseImageHeader(qcow2Header(3, ~0ull, 16, 1 << 20), 1 << 20));
    // A plain header.
    auto plain = parseImageHeader(qcow2Header(3, 0, 0, 7ull << 30), 196608);
    ASSERT_TRUE(plain && plain.value());
    EXPECT_EQ(plain.value()->format, VolumeFormat::Qcow2);
    EXPECT_EQ(plain.value()->virtualSize, 7ull << 30);
    // Anything else is raw bytes: the file's size.
    auto raw = parseImageHeader(std::string(512, 'x'), 12345);
    ASSERT_TRUE(raw && raw.value());
    EXPECT_EQ(raw.value()->format, VolumeFormat::Raw);
    EXPECT_EQ(raw.value()->virtualSize, 12345u);
    auto empty = parseImageHeader("", 0);
    ASSERT_TRUE(empty && empty.value());
    EXPECT_EQ(empty.value()->virtualSize, 0u);
}
