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
    put(20, 16, 4); // 64 KiB clusters
    put(24, size, 8);
    if (version == 3) {
        put(100, 104, 4); // header length
    }
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
    // A backing file and its format (a header extension); a relative name is made
    // absolute from the image's directory, as qemu-img's full-backing-filename.
    run("qemu-img create -q -f qcow2 -b " + dir + "/q.qcow2 -F qcow2 " + dir + "/o.qcow2");
    VolumeInfo overlay = volumeAt(dir + "/o.qcow2");
    ASSERT_TRUE(fillFromHeader(overlay, st));
    EXPECT_EQ(overlay.backingPath, dir + "/q.qcow2");
    EXPECT_EQ(overlay.backingFormat, VolumeFormat::Qcow2);
    EXPECT_EQ(overlay.capacity, 3ull << 30);
    run("cd " + dir + " && qemu-img create -q -f qcow2 -b r.img -F raw rel.qcow2");
    VolumeInfo relative = volumeAt(dir + "/rel.qcow2");
    ASSERT_TRUE(fillFromHeader(relative, st));
    EXPECT_EQ(relative.backingPath, dir + "/r.img");
    EXPECT_EQ(relative.backingFormat, VolumeFormat::Raw);
    // A backing format that is neither raw nor qcow2: qemu-img tells.
    run("qemu-img create -q -f qcow2 -u -b x.vmdk -F vmdk " + dir + "/ov.qcow2 1M");
    VolumeInfo other = volumeAt(dir + "/ov.qcow2");
    EXPECT_FALSE(fillFromHeader(other, st));
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
    std::string dir = scratchDir();
    auto read = [&](const std::string& bytes) {
        std::string path = dir + "/image";
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
        struct stat st {};
        ::fstat(fd, &st);
        auto header = readImageHeader(fd, st);
        ::close(fd);
        return header;
    };
    // Too short to be a qcow2 header.
    EXPECT_FALSE(read(qcow2Header(3, 0, 0, 1).substr(0, 40)));
    // An unknown version: qemu-img decides.
    auto v9 = read(qcow2Header(9, 0, 0, 1 << 20));
    ASSERT_TRUE(v9);
    EXPECT_FALSE(v9.value().has_value());
    // A backing file name out of the file or the first cluster, too long, or of size 0
    // at an offset.
    EXPECT_FALSE(read(qcow2Header(3, 4096, 16, 1 << 20)));
    EXPECT_FALSE(read(qcow2Header(3, 104, 16, 1 << 20)));
    EXPECT_FALSE(read(qcow2Header(3, 104, 4096, 1 << 20) + std::string(8192, 'a')));
    EXPECT_FALSE(read(qcow2Header(3, 104, 0, 1 << 20)));
    EXPECT_FALSE(read(qcow2Header(3, ~0ull, 16, 1 << 20)));
    EXPECT_FALSE(read(qcow2Header(3, 1ull << 17, 16, 1 << 20) + std::string(1 << 17, 'a')));
    // A plain header.
    auto plain = read(qcow2Header(3, 0, 0, 7ull << 30));
    ASSERT_TRUE(plain && plain.value());
    EXPECT_EQ(plain.value()->format, VolumeFormat::Qcow2);
    EXPECT_EQ(plain.value()->virtualSize, 7ull << 30);
    // Anything else is raw bytes: the file's size.
    auto raw = read(std::string(12345, 'x'));
    ASSERT_TRUE(raw && raw.value());
    EXPECT_EQ(raw.value()->format, VolumeFormat::Raw);
    EXPECT_EQ(raw.value()->virtualSize, 12345u);
    auto empty = read("");
    ASSERT_TRUE(empty && empty.value());
    EXPECT_EQ(empty.value()->virtualSize, 0u);
    std::filesystem::remove_all(dir);
}
