// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's storage side: remote_nonnull_storage_vol and the pool event messages on the
// wire (layouts of libvirt's remote_protocol.x), the pool and volume caches (volumes have no
// UUID: admitted by name, found by key and by pool and name), libvirt's pool list filter
// with its type flags, and the procedure table (numbers, read-only refusals).
#include "frame.hpp"
#include "procedures.hpp"
#include "protocol.hpp"
#include "remote_types.hpp"
#include "storage_cache.hpp"
#include "wire_bytes.hpp"

#include <gtest/gtest.h>

namespace virtswarm::bridge {
namespace {

using namespace wire_test;
const std::string kPoolPath = "/org/virtswarm/Storage1/pool/_123456789abcdef00123456789abcdef";
const std::string kOtherPool = "/org/virtswarm/Storage1/pool/_00000000000000000000000000000001";

// ------------------------------------------------------------------ wire

TEST(RemoteStorage, VolumeIsPoolNameKey) {
    xdr::Writer w;
    writeStorageVol(w, RemoteStorageVol{"p", "v.img", "/i/v"});
    EXPECT_EQ(w.bytes(), hex("00000001 70000000 00000005 762e696d 67000000 00000004 2f692f76"));
    xdr::Reader r(w.bytes());
    EXPECT_EQ(readStorageVol(r), (RemoteStorageVol{"p", "v.img", "/i/v"}));
    EXPECT_TRUE(r.finish());

    Bytes cut = hex("00000001 70000000 00000005 762e"); // the name stops early
    xdr::Reader bad(cut);
    (void)readStorageVol(bad);
    EXPECT_FALSE(bad.finish());
}

TEST(RemoteStorage, PoolLifecycleAndRefreshMessages) {
    Header h;
    h.procedure = proto::StoragePoolEventLifecycle;
    h.type = static_cast<uint32_t>(proto::MessageType::Message);
    h.serial = 1;
    xdr::Writer w;
    w.i32(3);
    writeStoragePool(w, RemoteStoragePool{"pl", kUuid});
    w.i32(2); // STARTED
    w.i32(0);
    EXPECT_EQ(encodeMessage(h, w.bytes()),
              hex("00000040 20008086 00000001 00000172 00000002 00000001 00000000 "
                  "00000003 00000002 706c0000 123456789abcdef0 0123456789abcdef "
                  "00000002 00000000"));
    // remote_storage_pool_event_refresh_msg: callbackID, pool.
    EXPECT_EQ(proto::StoragePoolEventRefresh, 373);
}

// ------------------------------------------------------------------ storaged's side

PropertyMap volumeProps(const std::string& name, const std::string& pool, uint64_t capacity) {
    return PropertyMap{{"Name", sdbus::Variant(name)},
                       {"Path", sdbus::Variant("/images/" + name)},
                       {"Pool", sdbus::Variant(sdbus::ObjectPath(pool))},
                       {"Format", sdbus::Variant(std::string("qcow2"))},
                       {"Capacity", sdbus::Variant(capacity)},
                       {"Allocation", sdbus::Variant(uint64_t{4096})}};
}

TEST(StorageVolumeCache, VolumesWithoutUuidAreFoundByKeyAndByPoolAndName) {
    StorageVolumeCache cache;
    cache.update(kPoolPath + "/volume/b", volumeProps("b", kPoolPath, 1 << 20));
    cache.update(kPoolPath + "/volume/a", volumeProps("a", kPoolPath, 2 << 20));
    cache.update(kOtherPool + "/volume/a", volumeProps("a", kOtherPool, 3 << 20));
    EXPECT_EQ(cache.size(), 3u);

    const CachedVolume* a = cache.inPool(kPoolPath, "a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->key, "/images/a");
    EXPECT_EQ(a->format, "qcow2");
    EXPECT_EQ(a->capacity, 2u << 20);
    EXPECT_EQ(cache.inPool(kOtherPool, "a")->capacity, 3u << 20);
    EXPECT_EQ(cache.inPool(kOtherPool, "b"), nullptr);
    EXPECT_EQ(cache.byKey("/images/b"), cache.inPool(kPoolPath, "b"));
    EXPECT_EQ(cache.byKey("/images/none"), nullptr);

    auto listed = cache.ofPool(kPoolPath);
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0]->name, "a"); // by name
    EXPECT_EQ(listed[1]->name, "b");

    cache.update(kPoolPath + "/volume/a", PropertyMap{{"Capacity", sdbus::Variant(uint64_t{7})}});
    EXPECT_EQ(cache.inPool(kPoolPath, "a")->capacity, 7u);
    cache.remove(kPoolPath + "/volume/a");
    EXPECT_EQ(cache.inPool(kPoolPath, "a"), nullptr);
    // Nothing without a name.
    cache.update(kPoolPath + "/volume/x", PropertyMap{{"Capacity", sdbus::Variant(uint64_t{1})}});
    EXPECT_EQ(cache.size(), 2u);
}

TEST(StoragePoolCache, FollowsPoolsByUuid) {
    StoragePoolCache cache;
    cache.update(kPoolPath, PropertyMap{{"Name", sdbus::Variant(std::string("default"))},
                                        {"UUID", sdbus::Variant(kUuidText)},
                                        {"Active", sdbus::Variant(true)},
                                        {"State", sdbus::Variant(uint32_t{2})},
                                        {"Type", sdbus::Variant(std::string("dir"))},
                                        {"Available", sdbus::Variant(uint64_t{99})}});
    const CachedPool* p = cache.byUuid(kUuid);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(cache.byName("default"), p);
    EXPECT_TRUE(p->active);
    EXPECT_EQ(p->state, 2u);
    EXPECT_EQ(p->type, "dir");
    EXPECT_EQ(p->available, 99u);
}

TEST(StoragePoolCache, ListFlagsFilterStateAndType) {
    constexpr uint32_t inactive = 1, active = 2, transient = 8, dir = 64, fs = 128, logical = 512,
                       iscsi = 2048;
    CachedPool running;
    running.active = true;
    running.persistent = true;
    running.type = "dir";
    EXPECT_TRUE(matchesStoragePoolListFlags(running, 0));
    EXPECT_TRUE(matchesStoragePoolListFlags(running, active));
    EXPECT_FALSE(matchesStoragePoolListFlags(running, inactive));
    EXPECT_FALSE(matchesStoragePoolListFlags(running, transient));
    EXPECT_TRUE(matchesStoragePoolListFlags(running, dir));
    EXPECT_TRUE(matchesStoragePoolListFlags(running, dir | logical | active));
    EXPECT_FALSE(matchesStoragePoolListFlags(running, fs | logical));
    EXPECT_FALSE(matchesStoragePoolListFlags(running, iscsi));
}

// ------------------------------------------------------------------ procedure table

TEST(StorageProcedures, NumbersAndReadOnlyRefusals) {
    std::map<int32_t, const Procedure*> table;
    for (auto group :
         {storagePoolQueryProcedures(), storagePoolLifecycleProcedures(), storageVolProcedures(),
          storageVolStreamProcedures(), storageEventProcedures()}) {
        for (const auto& p : group) {
            EXPECT_TRUE(table.emplace(p.number, &p).second) << "twice: " << p.number;
            EXPECT_NE(std::string(p.name).find("Storage"), std::string::npos) << p.name;
        }
    }
    // Numbers from libvirt's remote_protocol.x (368 and 378 measured from python-libvirt).
    const int32_t reads[] = {71, 72, 73, 74,  84,  85,  86,  87,  88,  89,  91,  92,  95, 96,
                             97, 98, 99, 100, 154, 155, 209, 281, 282, 368, 369, 378, 403};
    const int32_t writes[] = {76, 77, 78, 79, 80, 81, 82, 83, 90, 93, 94, 125, 165, 208, 259, 260};
    for (int32_t n : reads) {
        ASSERT_TRUE(table.count(n)) << n;
        EXPECT_EQ(table[n]->access, Access::Read) << n;
    }
    for (int32_t n : writes) {
        ASSERT_TRUE(table.count(n)) << n;
        EXPECT_EQ(table[n]->access, Access::Write) << n;
    }
    EXPECT_EQ(table.size(), std::size(reads) + std::size(writes));
}

} // namespace
} // namespace virtswarm::bridge
