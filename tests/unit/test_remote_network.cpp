// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's network side: remote_nonnull_network, remote_network_dhcp_lease and the
// network lifecycle message on the wire (layouts of libvirt's remote_protocol.x), the
// network cache and libvirt's list filter, leases from networkd's a{sv}, and the procedure
// table (numbers, and which procedures a read-only connection is refused).
#include "frame.hpp"
#include "network_cache.hpp"
#include "network_client.hpp"
#include "procedures.hpp"
#include "protocol.hpp"
#include "remote_types.hpp"
#include "wire_bytes.hpp"

#include <gtest/gtest.h>

namespace virtswarm::bridge {
namespace {

using namespace wire_test;
const std::string kPath = "/org/virtswarm/Network1/network/_123456789abcdef00123456789abcdef";

// ------------------------------------------------------------------ wire

TEST(RemoteNetwork, IsNameThenRawUuid) {
    xdr::Writer w;
    writeNetwork(w, RemoteNetwork{"vnet", kUuid});
    EXPECT_EQ(w.bytes(), hex("00000004 766e6574 123456789abcdef0 0123456789abcdef"));

    xdr::Reader r(w.bytes());
    EXPECT_EQ(readNetwork(r), (RemoteNetwork{"vnet", kUuid}));
    EXPECT_TRUE(r.finish());
}

TEST(RemoteNetwork, OptionalAndTruncated) {
    xdr::Writer w;
    w.boolean(false);
    w.boolean(true);
    writeNetwork(w, RemoteNetwork{"n", kUuid});
    xdr::Reader r(w.bytes());
    EXPECT_FALSE(readOptionalNetwork(r).has_value());
    EXPECT_EQ(readOptionalNetwork(r), (RemoteNetwork{"n", kUuid}));
    EXPECT_TRUE(r.finish());

    Bytes cut = hex("00000004 766e6574 12345678"); // the UUID stops after 4 bytes
    xdr::Reader bad(cut);
    (void)readNetwork(bad);
    EXPECT_FALSE(bad.finish());
}

TEST(RemoteNetwork, DhcpLeaseLayout) {
    DhcpLease lease;
    lease.iface = "vsbr0";
    lease.expiryTime = 0x0102030405060708;
    lease.type = 0;
    lease.mac = "52:54:00:00:05:0a";
    lease.ipaddr = "192.168.48.10";
    lease.prefix = 24;
    lease.hostname = "g";
    // iaid and clientid empty: sent absent
    xdr::Writer w;
    writeDhcpLease(w, lease);
    Bytes expected = hex("00000005 76736272 30000000" // iface "vsbr0"
                         "01020304 05060708"          // hyper expirytime
                         "00000000"                   // int type
                         "00000001 00000011 35323a35 343a3030 3a30303a 30353a30 61000000"
                         "00000000"                                     // iaid absent
                         "0000000d 3139322e 3136382e 34382e31 30000000" // ipaddr
                         "00000018"                                     // unsigned prefix
                         "00000001 00000001 67000000"                   // hostname "g"
                         "00000000");                                   // clientid absent
    EXPECT_EQ(w.bytes(), expected);
}

TEST(RemoteNetwork, LifecycleEventMessage) {
    // remote_network_event_lifecycle_msg: callbackID, net, event, detail.
    Header h;
    h.procedure = proto::NetworkEventLifecycle;
    h.type = static_cast<uint32_t>(proto::MessageType::Message);
    h.serial = 1;
    xdr::Writer w;
    w.i32(7);
    writeNetwork(w, RemoteNetwork{"n2", kUuid});
    w.i32(2); // STARTED
    w.i32(0);
    Bytes expected = hex("00000040 20008086 00000001 0000013b 00000002 00000001 00000000 "
                         "00000007 00000002 6e320000 123456789abcdef0 0123456789abcdef "
                         "00000002 00000000");
    EXPECT_EQ(encodeMessage(h, w.bytes()), expected);
}

TEST(RemoteNetwork, ErrorWithANetworkAttachedDecodes) {
    xdr::Writer w;
    w.i32(43);
    w.i32(19);
    w.optionalString(std::string("Network not found"));
    w.i32(2);
    w.boolean(false); // dom
    w.optionalString(std::nullopt);
    w.optionalString(std::nullopt);
    w.optionalString(std::nullopt);
    w.i32(-1);
    w.i32(-1);
    w.boolean(true); // net
    writeNetwork(w, RemoteNetwork{"n", kUuid});
    xdr::Reader r(w.bytes());
    RpcError e = readError(r);
    EXPECT_TRUE(r.finish());
    EXPECT_EQ(e.code, 43);
    EXPECT_EQ(e.message, "Network not found");
}

// ------------------------------------------------------------------ networkd's side

PropertyMap props(const std::string& name, bool active, bool persistent, bool autostart) {
    return PropertyMap{
        {"Name", sdbus::Variant(name)},           {"UUID", sdbus::Variant(kUuidText)},
        {"Active", sdbus::Variant(active)},       {"Persistent", sdbus::Variant(persistent)},
        {"Autostart", sdbus::Variant(autostart)}, {"Bridge", sdbus::Variant(std::string("vsbr3"))}};
}

TEST(NetworkCache, FollowsAddedChangedAndRemovedNetworks) {
    NetworkCache cache;
    cache.update(kPath, props("lan", false, true, false));
    const CachedNetwork* n = cache.byName("lan");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->uuid, kUuid);
    EXPECT_EQ(n->bridge, "vsbr3");
    EXPECT_FALSE(n->active);
    EXPECT_TRUE(n->persistent);
    EXPECT_EQ(cache.byUuid(kUuid), n);
    EXPECT_TRUE(cache.contains(kPath));

    cache.update(kPath, PropertyMap{{"Active", sdbus::Variant(true)},
                                    {"Name", sdbus::Variant(std::string("wan"))}});
    EXPECT_TRUE(cache.byPath(kPath)->active);
    EXPECT_EQ(cache.byName("lan"), nullptr);
    EXPECT_EQ(cache.byName("wan"), cache.byPath(kPath));

    cache.update(kPath, PropertyMap{{"Active", sdbus::Variant(std::string("yes"))}});
    EXPECT_TRUE(cache.byPath(kPath)->active); // a mistyped value changes nothing

    cache.remove(kPath);
    EXPECT_EQ(cache.byName("wan"), nullptr);
    EXPECT_EQ(cache.byUuid(kUuid), nullptr);
    EXPECT_EQ(cache.size(), 0u);

    cache.update(kPath, PropertyMap{{"Name", sdbus::Variant(std::string("x"))}});
    EXPECT_EQ(cache.size(), 0u); // nothing without a UUID
}

TEST(NetworkCache, ListFlagsFilterInPairs) {
    constexpr uint32_t inactive = 1, active = 2, persistent = 4, transient = 8, autostart = 16,
                       noAutostart = 32;
    CachedNetwork running;
    running.active = true;
    running.persistent = true;
    running.autostart = true;
    CachedNetwork transientStopped;
    EXPECT_TRUE(matchesNetworkListFlags(running, 0));
    EXPECT_TRUE(matchesNetworkListFlags(transientStopped, 0));
    EXPECT_TRUE(matchesNetworkListFlags(running, active | inactive));
    EXPECT_TRUE(matchesNetworkListFlags(running, active));
    EXPECT_FALSE(matchesNetworkListFlags(running, inactive));
    EXPECT_TRUE(matchesNetworkListFlags(transientStopped, inactive));
    EXPECT_FALSE(matchesNetworkListFlags(running, transient));
    EXPECT_TRUE(matchesNetworkListFlags(transientStopped, transient));
    EXPECT_TRUE(matchesNetworkListFlags(running, persistent | autostart | active));
    EXPECT_FALSE(matchesNetworkListFlags(running, noAutostart));
    EXPECT_TRUE(matchesNetworkListFlags(transientStopped, noAutostart | inactive));
}

TEST(NetworkClient, LeaseFromNetworkdsDictionary) {
    PropertyMap p{{"iface", sdbus::Variant(std::string("vsbr0"))},
                  {"expirytime", sdbus::Variant(int64_t{1700000000})},
                  {"type", sdbus::Variant(int32_t{1})},
                  {"mac", sdbus::Variant(std::string("52:54:00:00:00:01"))},
                  {"ipaddr", sdbus::Variant(std::string("fd00::10"))},
                  {"prefix", sdbus::Variant(uint32_t{64})},
                  {"hostname", sdbus::Variant(std::string("h"))},
                  {"clientid", sdbus::Variant(std::string("00:01"))}};
    DhcpLease l = leaseFromProperties(p);
    EXPECT_EQ(l.iface, "vsbr0");
    EXPECT_EQ(l.expiryTime, 1700000000);
    EXPECT_EQ(l.type, 1);
    EXPECT_EQ(l.ipaddr, "fd00::10");
    EXPECT_EQ(l.prefix, 64u);
    EXPECT_EQ(l.clientId, "00:01");
    EXPECT_TRUE(l.iaid.empty());

    DhcpLease wrong = leaseFromProperties(
        PropertyMap{{"prefix", sdbus::Variant(int32_t{24})}, {"mac", sdbus::Variant(true)}});
    EXPECT_EQ(wrong.prefix, 0u);
    EXPECT_TRUE(wrong.mac.empty());
}

// ------------------------------------------------------------------ procedure table

const Procedure* findIn(std::initializer_list<std::span<const Procedure>> groups, int32_t number) {
    for (auto group : groups) {
        for (const auto& p : group) {
            if (p.number == number) {
                return &p;
            }
        }
    }
    return nullptr;
}

TEST(NetworkProcedures, NumbersAndReadOnlyRefusals) {
    auto groups = {networkQueryProcedures(), networkLifecycleProcedures(),
                   networkEventProcedures()};
    struct Expect {
        int32_t number;
        Access access;
    };
    // Numbers from libvirt's remote_protocol.x.
    for (auto [number, access] :
         {Expect{36, Access::Read},  Expect{38, Access::Read},  Expect{39, Access::Write},
          Expect{40, Access::Write}, Expect{41, Access::Write}, Expect{42, Access::Write},
          Expect{43, Access::Read},  Expect{44, Access::Read},  Expect{45, Access::Read},
          Expect{46, Access::Read},  Expect{47, Access::Read},  Expect{48, Access::Write},
          Expect{49, Access::Write}, Expect{50, Access::Read},  Expect{52, Access::Read},
          Expect{152, Access::Read}, Expect{153, Access::Read}, Expect{283, Access::Read},
          Expect{313, Access::Read}, Expect{314, Access::Read}, Expect{341, Access::Read}}) {
        const Procedure* p = findIn(groups, number);
        ASSERT_NE(p, nullptr) << number;
        EXPECT_EQ(p->access, access) << number;
        EXPECT_NE(std::string(p->name).find("Network"), std::string::npos) << p->name;
    }
    EXPECT_EQ(proto::NetworkEventLifecycle, 315);
}

} // namespace
} // namespace virtswarm::bridge
