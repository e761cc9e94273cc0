// SPDX-License-Identifier: LGPL-2.1-or-later
// lockd's lease rules, without a bus: exclusive against everything, shared with shared,
// all or nothing, who may take over or release, and the persisted form.
#include "file_key.hpp"
#include "lease_table.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::lock;

namespace {

const std::string kOne = "11111111-1111-1111-1111-111111111111";
const std::string kTwo = "22222222-2222-2222-2222-222222222222";

LeaseRequest exclusive(const std::string& key) {
    return {key, "/images/" + key, LeaseMode::Exclusive};
}
LeaseRequest shared(const std::string& key) {
    return {key, "/images/" + key, LeaseMode::Shared};
}

TEST(LeaseTable, AnExclusiveLeaseExcludesEveryOtherDomain) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 0, {exclusive("a")}));
    auto writer = table.acquire(kTwo, ":1.2", 0, {exclusive("a")});
    ASSERT_FALSE(writer);
    EXPECT_EQ(writer.error().code(), Code::ResourceBusy);
    auto reader = table.acquire(kTwo, ":1.2", 0, {shared("a")});
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().code(), Code::ResourceBusy);
    EXPECT_EQ(table.find(kTwo), nullptr);
}

TEST(LeaseTable, SharedLeasesAdmitReadersOnly) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 0, {shared("a")}));
    ASSERT_TRUE(table.acquire(kTwo, ":1.2", 0, {shared("a")}));
    auto writer =
        table.acquire("33333333-3333-3333-3333-333333333333", ":1.3", 0, {exclusive("a")});
    EXPECT_EQ(writer.error().code(), Code::ResourceBusy);
}

TEST(LeaseTable, ARefusedRequestLeasesNothing) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 0, {exclusive("a")}));
    EXPECT_FALSE(table.acquire(kTwo, ":1.2", 0, {exclusive("b"), exclusive("a")}));
    EXPECT_EQ(table.leaseCount(), 1u);
    // One file named twice by one domain is one lease, exclusive if either use writes.
    ASSERT_TRUE(table.acquire(kTwo, ":1.2", 0, {shared("c"), exclusive("c")}));
    EXPECT_EQ(table.find(kTwo)->leases.at("c").mode, LeaseMode::Exclusive);
    EXPECT_EQ(table.leaseCount(), 2u);
}

TEST(LeaseTable, OnlyAnOrphanedDomainPassesToAnotherConnectionOfItsUser) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 1000, {exclusive("a")}));
    EXPECT_EQ(table.acquire(kOne, ":1.2", 1000, {exclusive("b")}).error().code(),
              Code::ResourceBusy);
    table.find(kOne)->holderGone = true;
    EXPECT_EQ(table.acquire(kOne, ":1.3", 1001, {exclusive("b")}).error().code(),
              Code::ResourceBusy);
    ASSERT_TRUE(table.acquire(kOne, ":1.2", 1000, {exclusive("b")}));
    EXPECT_EQ(table.find(kOne)->holder, ":1.2");
    EXPECT_FALSE(table.find(kOne)->holderGone);
    EXPECT_EQ(table.find(kOne)->leases.size(), 2u);
}

TEST(LeaseTable, NoDisksOnlyTakesOver) {
    LeaseTable table;
    // Nothing held: nothing to take, and no empty entry.
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 1000, {}));
    EXPECT_EQ(table.find(kOne), nullptr);
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 1000, {exclusive("a")}));
    ASSERT_TRUE(table.setProcess(kOne, ":1.1", HeldProcess{4242, 99}));
    // The holder is still on the bus: nobody takes over, not even without disks.
    EXPECT_EQ(table.acquire(kOne, ":1.2", 1000, {}).error().code(), Code::ResourceBusy);
    table.find(kOne)->holderGone = true;
    EXPECT_EQ(table.acquire(kOne, ":1.2", 1001, {}).error().code(), Code::ResourceBusy);
    ASSERT_TRUE(table.acquire(kOne, ":1.2", 1000, {}));
    const Owner* owner = table.find(kOne);
    EXPECT_EQ(owner->holder, ":1.2");
    EXPECT_FALSE(owner->holderGone);
    EXPECT_EQ(owner->leases.size(), 1u);
    EXPECT_EQ(owner->process.pid, 4242); // still released with the same QEMU
}

TEST(LeaseTable, TheHolderOrRootReleases) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 1000, {exclusive("a"), shared("b")}));
    EXPECT_EQ(table.release(kOne, ":1.9", 1001, {}).error().code(), Code::AccessDenied);
    EXPECT_EQ(table.release(kOne, ":1.1", 1000, {"/images/zz"}).error().code(), Code::InvalidArgs);
    ASSERT_TRUE(table.release(kOne, ":1.1", 1000, {"/images/a"}));
    EXPECT_EQ(table.leaseCount(), 1u);
    ASSERT_TRUE(table.release(kOne, ":1.9", 0, {}));
    EXPECT_EQ(table.find(kOne), nullptr);
}

TEST(LeaseTable, RequestsAreBounded) {
    LeaseTable table;
    std::vector<LeaseRequest> many;
    for (size_t i = 0; i <= LeaseTable::kMaxDisksPerCall; ++i) {
        many.push_back(exclusive(std::to_string(i)));
    }
    EXPECT_EQ(table.acquire(kOne, ":1.1", 0, many).error().code(), Code::LimitsExceeded);
}

TEST(LeaseTable, SurvivesItsPersistedForm) {
    LeaseTable table;
    ASSERT_TRUE(table.acquire(kOne, ":1.1", 1000, {exclusive("file:1:2"), shared("block:8:0")}));
    ASSERT_TRUE(table.setProcess(kOne, ":1.1", HeldProcess{4242, 99}));
    auto back = LeaseTable::parse(table.serialize());
    ASSERT_TRUE(back) << back.error().message();
    const Owner* owner = back.value().find(kOne);
    ASSERT_NE(owner, nullptr);
    EXPECT_EQ(owner->holder, ":1.1");
    EXPECT_EQ(owner->uid, 1000u);
    EXPECT_EQ(owner->process.pid, 4242);
    EXPECT_EQ(owner->process.startTime, 99u);
    EXPECT_EQ(owner->leases.at("block:8:0").mode, LeaseMode::Shared);
    EXPECT_FALSE(LeaseTable::parse("{\"version\": 1, \"domains\": [{}]}"));
    EXPECT_FALSE(LeaseTable::parse("not json"));
}

TEST(FileKey, FollowsTheFileAndTheAccessItWasOpenedWith) {
    char path[] = "/tmp/vs-file-key-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    std::string link = std::string(path) + ".link";
    ASSERT_EQ(::link(path, link.c_str()), 0);
    int viaLink = ::open(link.c_str(), O_RDONLY);
    int pathOnly = ::open(path, O_PATH);
    auto a = fileKey(fd, LeaseMode::Exclusive, path);
    auto b = fileKey(viaLink, LeaseMode::Shared, link);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a.value(), b.value());
    EXPECT_EQ(a.value().rfind("file:", 0), 0u);
    EXPECT_EQ(fileKey(viaLink, LeaseMode::Exclusive, link).error().code(), Code::InvalidArgs);
    EXPECT_EQ(fileKey(pathOnly, LeaseMode::Shared, path).error().code(), Code::InvalidArgs);
    int dir = ::open("/tmp", O_RDONLY | O_DIRECTORY);
    EXPECT_EQ(fileKey(dir, LeaseMode::Shared, "/tmp").error().code(), Code::InvalidArgs);
    for (int f : {fd, viaLink, pathOnly, dir}) {
        ::close(f);
    }
    ::unlink(link.c_str());
    ::unlink(path);
}

} // namespace
