// SPDX-License-Identifier: LGPL-2.1-or-later
// Framing, remote_protocol.x structures, error mapping and the domain cache of the bridge,
// checked against bytes measured from libvirtd 9.0 (reference/libvirt-rpc.md).
#include "domain_cache.hpp"
#include "frame.hpp"
#include "remote_types.hpp"
#include "rpc_error.hpp"
#include "wire_bytes.hpp"

#include <gtest/gtest.h>

namespace virtswarm::bridge {
namespace {

using namespace wire_test;

Header callHeader(int32_t proc, uint32_t serial) {
    Header h;
    h.procedure = proc;
    h.serial = serial;
    return h;
}

// ------------------------------------------------------------------ framing

TEST(Frame, EncodesTheMeasuredLifecycleEvent) {
    Header h;
    h.procedure = proto::DomainEventCallbackLifecycle;
    h.type = static_cast<uint32_t>(proto::MessageType::Message);
    h.serial = 1;
    xdr::Writer w;
    w.i32(27);
    writeDomain(w, RemoteDomain{"d2", kUuid, -1});
    w.i32(0);
    w.i32(0);
    Bytes message = encodeMessage(h, w.bytes());
    Bytes expected = hex("00000044 20008086 00000001 0000013e 00000002 00000001 00000000 "
                         "0000001b 00000002 64320000 123456789abcdef0 0123456789abcdef "
                         "ffffffff 00000000 00000000");
    EXPECT_EQ(message, expected);
}

TEST(Frame, ParsesFramesWhateverTheReadBoundaries) {
    Bytes stream;
    for (uint32_t serial = 0; serial < 3; ++serial) {
        xdr::Writer w;
        w.string("payload " + std::to_string(serial));
        auto m = encodeMessage(callHeader(23, serial), w.bytes());
        stream.insert(stream.end(), m.begin(), m.end());
    }
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, size_t{28}, stream.size()}) {
        FrameParser parser;
        std::vector<Frame> frames;
        for (size_t off = 0; off < stream.size(); off += chunk) {
            parser.feed(std::span<const uint8_t>(stream).subspan(
                off, std::min(chunk, stream.size() - off)));
            while (true) {
                auto next = parser.next();
                ASSERT_TRUE(next) << next.error().message();
                if (!next.value()) {
                    break;
                }
                frames.push_back(std::move(*next.value()));
            }
        }
        ASSERT_EQ(frames.size(), 3u) << "chunk " << chunk;
        for (uint32_t i = 0; i < 3; ++i) {
            EXPECT_EQ(frames[i].header.serial, i);
            EXPECT_EQ(frames[i].header.procedure, 23);
            EXPECT_EQ(frames[i].header.program, proto::kRemoteProgram);
            xdr::Reader r(frames[i].payload);
            EXPECT_EQ(r.string(100), "payload " + std::to_string(i));
            EXPECT_TRUE(r.finish());
        }
        EXPECT_EQ(parser.buffered(), 0u);
        EXPECT_FALSE(parser.frameReady());
    }
}

TEST(Frame, MinimalMessageIs28Bytes) {
    FrameParser parser;
    Bytes m = encodeMessage(callHeader(66, 0), {});
    ASSERT_EQ(m.size(), 28u);
    parser.feed(std::span<const uint8_t>(m).first(27));
    EXPECT_FALSE(parser.frameReady());
    auto none = parser.next();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none.value());
    parser.feed(std::span<const uint8_t>(m).subspan(27));
    EXPECT_TRUE(parser.frameReady());
    auto frame = parser.next();
    ASSERT_TRUE(frame && frame.value());
    EXPECT_TRUE(frame.value()->payload.empty());
}

TEST(Frame, LengthsOutsideTheLimitsAreFatal) {
    for (uint32_t bad : {0u, 4u, 27u, proto::kMaxMessageLength + 1, 0xffffffffu}) {
        FrameParser parser;
        xdr::Writer w;
        w.u32(bad);
        parser.feed(w.bytes());
        EXPECT_TRUE(parser.frameReady()) << bad; // the error is ready: stop reading
        auto next = parser.next();
        EXPECT_FALSE(next) << bad;
    }
    EXPECT_TRUE(checkMessageLength(28));
    EXPECT_TRUE(checkMessageLength(proto::kMaxMessageLength));
}

TEST(Frame, ReplyHeaderEchoesTheCall) {
    Header call = callHeader(212, 77);
    Header reply = replyHeader(call, proto::MessageStatus::Error);
    EXPECT_EQ(reply.procedure, 212);
    EXPECT_EQ(reply.serial, 77u);
    EXPECT_EQ(reply.program, proto::kRemoteProgram);
    EXPECT_TRUE(reply.is(proto::MessageType::Reply));
    EXPECT_EQ(reply.status, static_cast<uint32_t>(proto::MessageStatus::Error));
}

// ----------------------------------------------------------- remote types

TEST(RemoteTypes, ErrorEncodingMatchesLibvirtd) {
    RpcError e;
    e.code = 42;
    e.domain = 12;
    e.message = "Domain not found";
    xdr::Writer w;
    writeError(w, e);
    EXPECT_EQ(w.size(), 84u); // measured payload size
    xdr::Reader r(w.bytes());
    RpcError back = readError(r);
    EXPECT_TRUE(r.finish()) << r.error();
    EXPECT_EQ(back, e);
}

TEST(RemoteTypes, DomainRoundTripAndOptionalDomain) {
    RemoteDomain d{"web1", kUuid, 4};
    xdr::Writer w;
    writeDomain(w, d);
    w.u32(0); // an absent remote_domain
    w.u32(1);
    writeDomain(w, d);
    xdr::Reader r(w.bytes());
    EXPECT_EQ(readDomain(r), d);
    EXPECT_EQ(readOptionalDomain(r), std::nullopt);
    EXPECT_EQ(readOptionalDomain(r), d);
    EXPECT_TRUE(r.finish());
}

TEST(RemoteTypes, TruncatedDomainFails) {
    xdr::Writer w;
    writeDomain(w, RemoteDomain{"web1", kUuid, 4});
    Bytes cut = w.bytes();
    cut.resize(cut.size() - 6);
    xdr::Reader r(cut);
    (void)readDomain(r);
    EXPECT_FALSE(r.finish());
}

TEST(RemoteTypes, TypedParamsOfEveryType) {
    std::vector<TypedParam> params{
        {"i", int32_t{-3}},         {"u", uint32_t{3}}, {"l", int64_t{-1} << 40},
        {"ul", uint64_t{1} << 63},  {"d", 0.25},        {"b", true},
        {"s", std::string("state")}};
    xdr::Writer w;
    writeTypedParams(w, params);
    xdr::Reader r(w.bytes());
    EXPECT_EQ(readTypedParams(r, 16), params);
    EXPECT_TRUE(r.finish()) << r.error();
}

TEST(RemoteTypes, UnknownTypedParamTypeFails) {
    xdr::Writer w;
    w.u32(1);
    w.string("x");
    w.i32(99);
    w.i32(0);
    xdr::Reader r(w.bytes());
    (void)readTypedParams(r, 16);
    EXPECT_FALSE(r.ok());
}

TEST(RemoteTypes, CharArraysTakeOneWordPerCharacter) {
    xdr::Writer w;
    writeFixedCharArray(w, "x86_64", 32);
    EXPECT_EQ(w.size(), 128u);
    xdr::Writer v;
    writeCharArray(v, "ab");
    EXPECT_EQ(v.bytes(), (Bytes{0, 0, 0, 2, 0, 0, 0, 'a', 0, 0, 0, 'b'}));
}

// ----------------------------------------------------------- error mapping

TEST(RpcErrors, SwarmErrorsUseTheProjectTable) {
    for (int i = 0; i < kCodeCount; ++i) {
        auto code = static_cast<Code>(i);
        RpcError e = toRpcError(Error(code, "m"));
        EXPECT_EQ(e.code, errorInfo(code).virErrorNumber);
        EXPECT_EQ(e.domain, errorInfo(code).virErrorDomain);
        EXPECT_EQ(e.message, "m");
        EXPECT_EQ(e.level, 2);
    }
}

TEST(RpcErrors, DBusNamesMapToLibvirtNumbers) {
    EXPECT_EQ(fromDBusErrorName("org.virtswarm.Error.NoSuchDomain", "x").code, 42);
    EXPECT_EQ(fromDBusErrorName("org.virtswarm.Error.InvalidState", "x").code, 55);
    // libvirt answers a taken name or UUID with OPERATION_FAILED, not DOM_EXIST.
    EXPECT_EQ(fromDBusErrorName("org.virtswarm.Error.DomainExists", "x").code, 9);
    EXPECT_EQ(fromDBusErrorName("org.freedesktop.DBus.Error.AccessDenied", "x").code, 29);
    // A registry without the method yet: clients must see NO_SUPPORT to fall back.
    EXPECT_EQ(fromDBusErrorName("org.freedesktop.DBus.Error.UnknownMethod", "x").code, 3);
    EXPECT_EQ(fromDBusErrorName("org.freedesktop.DBus.Error.NoReply", "x").code, 68);
}

TEST(RpcErrors, ProtocolLevelErrorsAreWhatLibvirtdSends) {
    EXPECT_EQ(unsupportedProcedure(283).code, 3);
    EXPECT_EQ(unknownProcedure(9999).code, 39);
    EXPECT_EQ(unknownProcedure(9999).domain, 7);
    EXPECT_EQ(unknownProcedure(9999).message, "unknown procedure: 9999");
    EXPECT_EQ(unknownProgram(0x12345678, 1).message, "Cannot find program 305419896 version 1");
    EXPECT_EQ(notOpen().code, 1);
    EXPECT_EQ(readOnlyDenied("virDomainCreate").code, 29);
    EXPECT_EQ(badArguments(11, "x").code, 39);
}

// ----------------------------------------------------------- domain cache

PropertyMap props(const std::string& name, const std::string& uuid, const std::string& state) {
    return PropertyMap{{"Name", sdbus::Variant(name)},
                       {"UUID", sdbus::Variant(uuid)},
                       {"Id", sdbus::Variant(int32_t{-1})},
                       {"State", sdbus::Variant(state)},
                       {"StateReason", sdbus::Variant(std::string("unknown"))},
                       {"Persistent", sdbus::Variant(true)},
                       {"Autostart", sdbus::Variant(false)},
                       {"Vcpus", sdbus::Variant(uint32_t{2})},
                       {"MemoryKiB", sdbus::Variant(uint64_t{131072})}};
}

TEST(DomainCache, FollowsAddedChangedAndRemovedDomains) {
    DomainCache cache;
    const std::string path = "/org/virtswarm/Hypervisor1/domain/_123456789abcdef00123456789abcdef";
    cache.update(path, props("web1", "12345678-9abc-def0-0123-456789abcdef", "shutoff"));
    const CachedDomain* d = cache.byName("web1");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->uuid, kUuid);
    EXPECT_EQ(d->vcpus, 2u);
    EXPECT_EQ(d->memoryKiB, 131072u);
    EXPECT_FALSE(d->active());
    EXPECT_EQ(cache.byUuid(kUuid), d);
    EXPECT_EQ(cache.byId(-1), nullptr);

    cache.update(path, PropertyMap{{"State", sdbus::Variant(std::string("running"))},
                                   {"StateReason", sdbus::Variant(std::string("booted"))},
                                   {"Id", sdbus::Variant(int32_t{3})}});
    EXPECT_EQ(cache.byId(3), cache.byPath(path));
    EXPECT_TRUE(cache.byPath(path)->active());

    cache.update(path, PropertyMap{{"Name", sdbus::Variant(std::string("web2"))}});
    EXPECT_EQ(cache.byName("web1"), nullptr);
    EXPECT_NE(cache.byName("web2"), nullptr);

    cache.remove(path);
    EXPECT_EQ(cache.byName("web2"), nullptr);
    EXPECT_EQ(cache.byUuid(kUuid), nullptr);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(DomainCache, IgnoresUnknownPathsWithoutUuidAndWrongTypes) {
    DomainCache cache;
    cache.update("/p", PropertyMap{{"Name", sdbus::Variant(std::string("x"))}});
    EXPECT_EQ(cache.size(), 0u);
    cache.update("/p", props("x", "not-a-uuid", "shutoff"));
    EXPECT_EQ(cache.size(), 0u);
    cache.update("/p", props("x", "12345678-9abc-def0-0123-456789abcdef", "shutoff"));
    cache.update("/p", PropertyMap{{"Vcpus", sdbus::Variant(std::string("many"))}});
    EXPECT_EQ(cache.byPath("/p")->vcpus, 2u);
}

TEST(DomainCache, ListsInNameOrder) {
    DomainCache cache;
    cache.update("/b", props("b", "00000000-0000-0000-0000-000000000002", "shutoff"));
    cache.update("/a", props("a", "00000000-0000-0000-0000-000000000001", "running"));
    auto all = cache.all();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0]->name, "a");
    EXPECT_EQ(all[1]->name, "b");
}

} // namespace
} // namespace virtswarm::bridge
