// SPDX-License-Identifier: LGPL-2.1-or-later
// Backing chains the shim opens itself (image_chain.hpp), on images made by the real
// qemu-img: each layer found and opened, and every chain QEMU would have to open by a
// name of the image's choosing refused with a named error.
#include "virtswarm/image_chain.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <unistd.h>

using namespace virtswarm;

namespace {

class ImageChainTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = std::filesystem::temp_directory_path() /
                ("vs-chain-" + std::to_string(getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(m_dir);
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    std::string at(const std::string& name) const { return (m_dir / name).string(); }
    void run(const std::string& command) const {
        std::string inDir = "cd " + m_dir.string() + " && " + command;
        ASSERT_EQ(std::system(inDir.c_str()), 0) << command;
    }
    // `qemu-img create` refuses a backing without -F: this drops the recorded format
    // afterwards by renaming its header extension to one QEMU ignores.
    void forgetBackingFormat(const std::string& name) const {
        std::fstream f(at(name), std::ios::in | std::ios::out | std::ios::binary);
        std::string head(65536, '\0');
        f.read(head.data(), static_cast<std::streamsize>(head.size()));
        auto pos = head.find("\xe2\x79\x2a\xca");
        ASSERT_NE(pos, std::string::npos);
        f.clear();
        f.seekp(static_cast<std::streamoff>(pos));
        f.write("\x12\x34\x56\x78", 4);
    }
    Result<std::vector<BackingLayer>> chainOf(const std::string& name,
                                              const std::string& format = "qcow2") {
        int fd = ::open(at(name).c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_GE(fd, 0) << name;
        auto chain = openBackingChain(m_opener, at(name), format, fd, "disk vda");
        ::close(fd);
        return chain;
    }

    std::filesystem::path m_dir;
    HostPathOpener m_opener;
};

std::vector<std::pair<std::string, std::string>> summary(std::vector<BackingLayer>& layers) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& layer : layers) {
        EXPECT_GE(::fcntl(layer.fd, F_GETFD), 0);
        EXPECT_EQ(::fcntl(layer.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        out.emplace_back(layer.path, layer.format);
    }
    closeLayers(layers);
    return out;
}

void expectUnsupported(const Result<std::vector<BackingLayer>>& chain, const std::string& words) {
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().code(), Code::ConfigUnsupported) << chain.error().message();
    EXPECT_NE(chain.error().message().find(words), std::string::npos) << chain.error().message();
}

} // namespace

TEST_F(ImageChainTest, EveryLayerIsFoundAndOpenedReadOnly) {
    run("qemu-img create -q -f raw base.raw 16M");
    run("qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2");
    run("qemu-img create -q -f qcow2 -b " + at("mid.qcow2") + " -F qcow2 top.qcow2");
    auto chain = chainOf("top.qcow2");
    ASSERT_TRUE(chain) << chain.error().message();
    // A relative name is taken from the directory of the image that records it.
    EXPECT_EQ(summary(chain.value()),
              (std::vector<std::pair<std::string, std::string>>{
                  {at("mid.qcow2"), "qcow2"}, {m_dir.string() + "/base.raw", "raw"}}));
    auto none = chainOf("base.raw", "raw");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none.value().empty());
    run("qemu-img create -q -f qcow2 alone.qcow2 16M");
    auto alone = chainOf("alone.qcow2");
    ASSERT_TRUE(alone);
    EXPECT_TRUE(alone.value().empty());
}

TEST_F(ImageChainTest, AnUnrecordedFormatIsTakenOnlyForRaw) {
    run("qemu-img create -q -f raw base.raw 16M");
    run("qemu-img create -q -f qcow2 -b base.raw -F raw over-raw.qcow2");
    forgetBackingFormat("over-raw.qcow2");
    auto raw = chainOf("over-raw.qcow2");
    ASSERT_TRUE(raw) << raw.error().message();
    EXPECT_EQ(summary(raw.value()),
              (std::vector<std::pair<std::string, std::string>>{{at("base.raw"), "raw"}}));
    run("qemu-img create -q -f qcow2 base.qcow2 16M");
    run("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 over-qcow2.qcow2");
    forgetBackingFormat("over-qcow2.qcow2");
    expectUnsupported(chainOf("over-qcow2.qcow2"), "was not specified in the image metadata");
}

TEST_F(ImageChainTest, ChainsQemuWouldHaveToFollowByNameAreRefused) {
    run("qemu-img create -q -f qcow2 -u -b b.qcow2 -F qcow2 a.qcow2 16M");
    run("qemu-img create -q -f qcow2 -u -b a.qcow2 -F qcow2 b.qcow2 16M");
    expectUnsupported(chainOf("a.qcow2"), "loops back");
    run("qemu-img create -q -f qcow2 -u -b nbd:127.0.0.1:10809 -F raw nbd.qcow2 16M");
    expectUnsupported(chainOf("nbd.qcow2"), "is not a local file");
    run("qemu-img create -q -f qcow2 -u -b 'json:{\"driver\":\"raw\"}' -F raw json.qcow2 16M");
    expectUnsupported(chainOf("json.qcow2"), "is not a local file");
    run("qemu-img create -q -f vmdk base.vmdk 16M");
    run("qemu-img create -q -f qcow2 -b base.vmdk -F vmdk vmdk.qcow2");
    expectUnsupported(chainOf("vmdk.qcow2"), "has format 'vmdk'");
    // Deeper than the limit: refused, whatever the images.
    run("qemu-img create -q -f raw l0 16M");
    for (size_t i = 1; i <= kMaxBackingDepth + 1; ++i) {
        std::string below = i == 1 ? "raw" : "qcow2";
        run("qemu-img create -q -f qcow2 -u -b l" + std::to_string(i - 1) + " -F " + below + " l" +
            std::to_string(i) + " 16M");
    }
    expectUnsupported(chainOf("l" + std::to_string(kMaxBackingDepth + 1)), "deeper than");
    auto atLimit = chainOf("l" + std::to_string(kMaxBackingDepth));
    ASSERT_TRUE(atLimit) << atLimit.error().message();
    EXPECT_EQ(atLimit.value().size(), kMaxBackingDepth);
    closeLayers(atLimit.value());
}

TEST_F(ImageChainTest, AMissingLayerIsNamed) {
    run("qemu-img create -q -f qcow2 -u -b gone.raw -F raw top.qcow2 16M");
    auto chain = chainOf("top.qcow2");
    ASSERT_FALSE(chain);
    EXPECT_NE(chain.error().message().find(at("gone.raw")), std::string::npos)
        << chain.error().message();
}

TEST_F(ImageChainTest, OneImagePathsRefuseABackedImage) {
    run("qemu-img create -q -f raw base.raw 16M");
    run("qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2");
    run("qemu-img create -q -f qcow2 alone.qcow2 16M");
    auto check = [&](const std::string& name, const std::string& format) {
        int fd = ::open(at(name).c_str(), O_RDONLY | O_CLOEXEC);
        auto r = requireUnbacked(fd, format, "disk vdb");
        ::close(fd);
        return r;
    };
    EXPECT_TRUE(check("alone.qcow2", "qcow2"));
    EXPECT_TRUE(check("base.raw", "raw"));
    // Raw bytes called qcow2: no backing to follow, QEMU refuses the image itself.
    EXPECT_TRUE(check("base.raw", "qcow2"));
    auto backed = check("top.qcow2", "qcow2");
    ASSERT_FALSE(backed);
    EXPECT_EQ(backed.error().code(), Code::ConfigUnsupported);
    EXPECT_NE(backed.error().message().find("base.raw"), std::string::npos);
}
