// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's XDR codec: encodings as libvirt's rpcgen code produces them, and a reader
// that fails cleanly on every kind of malformed input.
#include "protocol.hpp"
#include "xdr.hpp"

#include <cstring>
#include <gtest/gtest.h>
#include <limits>

namespace virtswarm::bridge::xdr {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(XdrWriter, EncodesBigEndianWordsAndHypers) {
    Writer w;
    w.u32(0x01020304);
    w.i32(-1);
    w.u64(0x0102030405060708ULL);
    w.i64(-2);
    w.boolean(true);
    EXPECT_EQ(w.bytes(), (Bytes{1, 2, 3,    4,    0xff, 0xff, 0xff, 0xff, 1,    2,    3, 4, 5, 6,
                                7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 1}));
}

TEST(XdrWriter, PadsStringsAndOpaqueToFourBytes) {
    Writer w;
    w.string("d2");
    w.string("");
    w.string("abcd");
    EXPECT_EQ(w.bytes(),
              (Bytes{0, 0, 0, 2, 'd', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 'a', 'b', 'c', 'd'}));
    Writer f;
    const uint8_t three[] = {1, 2, 3};
    f.fixedOpaque(three);
    f.opaque(three);
    EXPECT_EQ(f.bytes(), (Bytes{1, 2, 3, 0, 0, 0, 0, 3, 1, 2, 3, 0}));
}

TEST(XdrWriter, OptionalStringIsADiscriminantThenTheValue) {
    Writer w;
    w.optionalString(std::nullopt);
    w.optionalString(std::string("x"));
    EXPECT_EQ(w.bytes(), (Bytes{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'x', 0, 0, 0}));
}

TEST(XdrRoundTrip, EveryTypeSurvives) {
    Writer w;
    w.u32(std::numeric_limits<uint32_t>::max());
    w.i32(std::numeric_limits<int32_t>::min());
    w.u64(std::numeric_limits<uint64_t>::max());
    w.i64(std::numeric_limits<int64_t>::min());
    w.f64(-1.5e300);
    w.boolean(false);
    w.string("hello, world");
    w.optionalString(std::string("opt"));
    w.optionalString(std::nullopt);
    const uint8_t uuid[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    w.fixedOpaque(uuid);
    w.opaque(std::span<const uint8_t>(uuid, 5));

    Reader r(w.bytes());
    EXPECT_EQ(r.u32(), std::numeric_limits<uint32_t>::max());
    EXPECT_EQ(r.i32(), std::numeric_limits<int32_t>::min());
    EXPECT_EQ(r.u64(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(r.i64(), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(r.f64(), -1.5e300);
    EXPECT_FALSE(r.boolean());
    EXPECT_EQ(r.string(100), "hello, world");
    EXPECT_EQ(r.optionalString(100), std::optional<std::string>("opt"));
    EXPECT_EQ(r.optionalString(100), std::nullopt);
    uint8_t back[16] = {};
    r.fixedOpaque(back);
    EXPECT_EQ(std::memcmp(back, uuid, 16), 0);
    EXPECT_EQ(r.opaque(16), Bytes(uuid, uuid + 5));
    EXPECT_TRUE(r.finish()) << r.error();
}

TEST(XdrReader, TruncationIsAStickyFailure) {
    Bytes data{0, 0, 0, 7, 0, 0};
    Reader r(data);
    EXPECT_EQ(r.u32(), 7u);
    EXPECT_EQ(r.u32(), 0u); // only two bytes left
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("truncated"), std::string::npos) << r.error();
    // Later reads return zero values and consume nothing.
    EXPECT_EQ(r.u64(), 0u);
    EXPECT_EQ(r.string(10), "");
    EXPECT_EQ(r.offset(), 4u);
    EXPECT_FALSE(r.finish());
}

TEST(XdrReader, StringLongerThanItsLimitIsRefusedBeforeAllocating) {
    Writer w;
    w.u32(0xfffffff0); // a hostile length with no bytes behind it
    Reader r(w.bytes());
    EXPECT_EQ(r.string(proto::kStringMax), "");
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("exceeds the limit"), std::string::npos) << r.error();

    Writer small;
    small.string("abcdef");
    Reader limited(small.bytes());
    EXPECT_EQ(limited.string(5), "");
    EXPECT_FALSE(limited.ok());
}

TEST(XdrReader, StringLengthBeyondThePayloadIsTruncation) {
    Bytes data{0, 0, 0, 9, 'a', 'b', 'c', 'd'};
    Reader r(data);
    EXPECT_EQ(r.string(proto::kStringMax), "");
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("truncated"), std::string::npos);
}

TEST(XdrReader, MissingPaddingIsTruncation) {
    Bytes data{0, 0, 0, 1, 'a'}; // three padding bytes missing
    Reader r(data);
    (void)r.string(10);
    EXPECT_FALSE(r.ok());
}

TEST(XdrReader, EmbeddedNulInAStringIsRefused) {
    Bytes data{0, 0, 0, 3, 'a', 0, 'b', 0};
    Reader r(data);
    (void)r.string(10);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("NUL"), std::string::npos);
}

TEST(XdrReader, BooleansAndOptionalDiscriminantsMustBeZeroOrOne) {
    Bytes two{0, 0, 0, 2};
    Reader b(two);
    (void)b.boolean();
    EXPECT_FALSE(b.ok());
    Reader o(two);
    EXPECT_FALSE(o.present());
    EXPECT_FALSE(o.ok());
    EXPECT_NE(o.error().find("discriminant"), std::string::npos);
}

TEST(XdrReader, TrailingBytesFailFinish) {
    Bytes data{0, 0, 0, 1, 0, 0, 0, 2};
    Reader r(data);
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_TRUE(r.ok());
    auto done = r.finish();
    ASSERT_FALSE(done);
    EXPECT_NE(done.error().message().find("trailing"), std::string::npos);
}

TEST(XdrReader, ArrayCountIsCheckedAgainstLimitAndPayload) {
    Writer w;
    w.u32(1000000);
    Reader overLimit(w.bytes());
    EXPECT_EQ(overLimit.arrayCount(16384, 4), 0u);
    EXPECT_FALSE(overLimit.ok());

    Writer few;
    few.u32(3);
    few.u32(1);
    few.u32(2); // room for two 4-byte elements, not three
    Reader tooMany(few.bytes());
    EXPECT_EQ(tooMany.arrayCount(16384, 4), 0u);
    EXPECT_FALSE(tooMany.ok());

    Reader fits(few.bytes());
    EXPECT_EQ(fits.arrayCount(16384, 2), 3u); // 8 bytes hold three 2-byte elements
    EXPECT_TRUE(fits.ok());
}

TEST(XdrReader, CallerFailuresAreStickyToo) {
    Bytes data{0, 0, 0, 1};
    Reader r(data);
    r.fail("bad enum");
    r.fail("second failure is not recorded");
    EXPECT_EQ(r.error(), "bad enum");
    EXPECT_EQ(r.u32(), 0u);
}

TEST(XdrReader, EmptyInputFailsEveryRead) {
    Reader r(std::span<const uint8_t>{});
    EXPECT_TRUE(r.finish()); // nothing expected, nothing there
    (void)r.i32();
    EXPECT_FALSE(r.finish());
}

} // namespace
} // namespace virtswarm::bridge::xdr
