// SPDX-License-Identifier: LGPL-2.1-or-later
// The save image (virsh save's file): libvirt's layout written and read back, and every
// kind of bad file refused with libvirt's words before anything large is allocated.
#include "save_image.hpp"

#include <array>
#include <byteswap.h>
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::hypervisor;

namespace {

const std::string kXml = "<domain type='qemu'><name>saved</name></domain>";
// QEMU's migration stream begins with this magic ("QEVM").
const std::string kStream = "QEVM and the rest of the guest";

class SaveImageTest : public ::testing::Test {
protected:
    void SetUp() override { m_fd = ::memfd_create("save-image", MFD_CLOEXEC); }
    void TearDown() override { ::close(m_fd); }

    // What a save leaves: header, XML, then the stream at the offset the header left.
    void writeComplete(bool wasRunning = true) {
        ASSERT_TRUE(beginSaveImage(m_fd, kXml, wasRunning).ok());
        ASSERT_EQ(::write(m_fd, kStream.data(), kStream.size()),
                  static_cast<ssize_t>(kStream.size()));
        ASSERT_TRUE(completeSaveImage(m_fd).ok());
    }
    std::string bytesAt(off_t offset, size_t size) {
        std::string out(size, '\0');
        EXPECT_EQ(::pread(m_fd, out.data(), size, offset), static_cast<ssize_t>(size));
        return out;
    }
    void putU32(off_t offset, uint32_t value) {
        ASSERT_EQ(::pwrite(m_fd, &value, sizeof value, offset), 4);
    }
    std::string streamAfterRead() {
        std::string out(kStream.size(), '\0');
        EXPECT_EQ(::read(m_fd, out.data(), out.size()), static_cast<ssize_t>(out.size()));
        return out;
    }

    int m_fd = -1;
};

// Offsets of libvirt's header fields.
constexpr off_t kVersionAt = 16, kDataLenAt = 20, kWasRunningAt = 24, kCompressedAt = 28,
                kCookieAt = 32;

TEST_F(SaveImageTest, WritesLibvirtsLayoutAndReadsItBack) {
    writeComplete(true);
    EXPECT_EQ(bytesAt(0, 16), "LibvirtQemudSave");
    auto image = readSaveImage(m_fd);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image.value().xml, kXml);
    EXPECT_TRUE(image.value().wasRunning);
    // libvirt's room for a longer XML later.
    EXPECT_EQ(image.value().dataLength, kXml.size() + 1 + kSaveImageXmlSlack);
    EXPECT_EQ(streamAfterRead(), kStream);
}

TEST_F(SaveImageTest, RemembersAPausedGuest) {
    writeComplete(false);
    auto image = readSaveImage(m_fd);
    ASSERT_TRUE(image.ok());
    EXPECT_FALSE(image.value().wasRunning);
}

TEST_F(SaveImageTest, AnUnfinishedSaveIsRefused) {
    ASSERT_TRUE(beginSaveImage(m_fd, kXml, true).ok());
    EXPECT_EQ(bytesAt(0, 16), "LibvirtQemudPart");
    auto image = readSaveImage(m_fd);
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.error().code(), Code::OperationFailed);
    EXPECT_EQ(image.error().message(), "save image is incomplete");
}

TEST_F(SaveImageTest, BeginEmptiesWhatWasThere) {
    std::string old(200000, 'x');
    ASSERT_EQ(::write(m_fd, old.data(), old.size()), static_cast<ssize_t>(old.size()));
    writeComplete(true);
    struct stat st {};
    ASSERT_EQ(::fstat(m_fd, &st), 0);
    EXPECT_EQ(static_cast<size_t>(st.st_size),
              kSaveImageHeaderSize + kXml.size() + 1 + kSaveImageXmlSlack + kStream.size());
}

TEST_F(SaveImageTest, ForeignShortAndEmptyFilesAreRefused) {
    auto empty = readSaveImage(m_fd);
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().message(), "failed to read qemu header");
    std::string junk(kSaveImageHeaderSize, 'j');
    ASSERT_EQ(::pwrite(m_fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
    auto foreign = readSaveImage(m_fd);
    ASSERT_FALSE(foreign.ok());
    EXPECT_EQ(foreign.error().message(), "image magic is incorrect");
}

TEST_F(SaveImageTest, AHugeClaimedLengthIsRefusedBeforeAllocating) {
    writeComplete(true);
    putU32(kDataLenAt, 0xfffffff0U);
    auto image = readSaveImage(m_fd);
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.error().code(), Code::OperationFailed);
    EXPECT_NE(image.error().message().find("invalid header data length"), std::string::npos);
    putU32(kDataLenAt, 0);
    EXPECT_FALSE(readSaveImage(m_fd).ok());
}

TEST_F(SaveImageTest, ATruncatedXmlAreaIsRefused) {
    writeComplete(true);
    ASSERT_EQ(::ftruncate(m_fd, kSaveImageHeaderSize + 10), 0);
    auto image = readSaveImage(m_fd);
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.error().message(), "failed to read domain XML");
}

TEST_F(SaveImageTest, AnUnterminatedXmlIsRefused) {
    writeComplete(true);
    std::string filler(kXml.size() + 1 + kSaveImageXmlSlack, 'a');
    ASSERT_EQ(::pwrite(m_fd, filler.data(), filler.size(), kSaveImageHeaderSize),
              static_cast<ssize_t>(filler.size()));
    EXPECT_FALSE(readSaveImage(m_fd).ok());
}

TEST_F(SaveImageTest, NewerVersionsAndCompressionAreRefused) {
    writeComplete(true);
    putU32(kCompressedAt, 1); // gzip
    auto compressed = readSaveImage(m_fd);
    ASSERT_FALSE(compressed.ok());
    EXPECT_EQ(compressed.error().code(), Code::ConfigUnsupported);
    putU32(kCompressedAt, 0);
    // 3 read in either byte order is beyond version 2.
    putU32(kVersionAt, 3);
    auto newer = readSaveImage(m_fd);
    ASSERT_FALSE(newer.ok());
    EXPECT_NE(newer.error().message().find("image version is not supported"), std::string::npos);
}

TEST_F(SaveImageTest, AnImageOfTheOtherByteOrderIsRead) {
    writeComplete(false);
    uint32_t dataLength = static_cast<uint32_t>(kXml.size() + 1 + kSaveImageXmlSlack);
    putU32(kVersionAt, bswap_32(2));
    putU32(kDataLenAt, bswap_32(dataLength));
    putU32(kWasRunningAt, bswap_32(1));
    auto image = readSaveImage(m_fd);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_TRUE(image.value().swapped);
    EXPECT_TRUE(image.value().wasRunning);
    EXPECT_EQ(image.value().xml, kXml);
    EXPECT_EQ(streamAfterRead(), kStream);
}

TEST_F(SaveImageTest, LibvirtsCookieEndsTheXml) {
    writeComplete(true);
    // libvirt puts its <qemu-save-cookie> after the XML's NUL and says where it starts.
    std::string cookie = "<cookie/>";
    ASSERT_EQ(::pwrite(m_fd, cookie.data(), cookie.size() + 1,
                       static_cast<off_t>(kSaveImageHeaderSize + kXml.size() + 1)),
              static_cast<ssize_t>(cookie.size() + 1));
    putU32(kCookieAt, static_cast<uint32_t>(kXml.size() + 1));
    auto image = readSaveImage(m_fd);
    ASSERT_TRUE(image.ok());
    EXPECT_EQ(image.value().xml, kXml);
    EXPECT_EQ(streamAfterRead(), kStream);
    putU32(kCookieAt, 0xffffffffU);
    EXPECT_FALSE(readSaveImage(m_fd).ok());
}

TEST_F(SaveImageTest, RewritingKeepsTheStreamAndRefusesWhatDoesNotFit) {
    writeComplete(true);
    auto image = readSaveImage(m_fd);
    ASSERT_TRUE(image.ok());
    std::string longer = kXml;
    longer.insert(longer.find("</domain>"),
                  "<description>" + std::string(1000, 'd') + "</description>");
    ASSERT_TRUE(rewriteSaveImage(m_fd, image.value(), longer, false).ok());
    auto again = readSaveImage(m_fd);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value().xml, longer);
    EXPECT_FALSE(again.value().wasRunning);
    EXPECT_EQ(again.value().dataLength, image.value().dataLength);
    EXPECT_EQ(streamAfterRead(), kStream);

    std::string huge = kXml + std::string(kSaveImageXmlSlack + kXml.size(), ' ');
    auto refused = rewriteSaveImage(m_fd, again.value(), huge, true);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message(), "new xml too large to fit in file");
    auto unchanged = readSaveImage(m_fd);
    ASSERT_TRUE(unchanged.ok());
    EXPECT_EQ(unchanged.value().xml, longer);
}

} // namespace
