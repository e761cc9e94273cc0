// SPDX-License-Identifier: LGPL-2.1-or-later
// The shim's accounting parsers on text recorded from a QEMU process and its vCPU threads,
// and the translation of QMP answers into libvirt's statistics keys.
#include "accounting.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::shim;

namespace {

// /proc/<qemu>/task/<vcpu thread>/stat of a TCG guest; the command name has a space and a
// parenthesis, as QEMU's thread names do ("CPU 0/TCG").
const std::string kVcpuStat =
    "4242 (CPU 0/TCG) R 4200 4200 4200 0 -1 4194368 1391 0 0 0 1234 56 0 0 20 0 3 0 "
    "123456 1234567 4000 18446744073709551615 1 1 0 0 0 0 0 4096 17642 0 0 0 -1 1 0 0 0 0 0";

std::optional<uint64_t> u64Of(const Stats& s, const std::string& key) {
    for (const auto& [k, v] : s) {
        if (k == key && std::holds_alternative<uint64_t>(v)) {
            return std::get<uint64_t>(v);
        }
    }
    return std::nullopt;
}

std::optional<std::string> strOf(const Stats& s, const std::string& key) {
    for (const auto& [k, v] : s) {
        if (k == key && std::holds_alternative<std::string>(v)) {
            return std::get<std::string>(v);
        }
    }
    return std::nullopt;
}

} // namespace

TEST(Accounting, TaskStatTimesAndProcessor) {
    auto t = accounting::parseTaskStat(kVcpuStat, 100);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->userNs, 1234ULL * 10000000ULL);
    EXPECT_EQ(t->systemNs, 56ULL * 10000000ULL);
    EXPECT_EQ(t->processor, 1);
}

TEST(Accounting, MalformedTaskStatIsRefused) {
    EXPECT_FALSE(accounting::parseTaskStat("", 100).has_value());
    EXPECT_FALSE(accounting::parseTaskStat("4242 (qemu) R 1 2", 100).has_value());
    EXPECT_FALSE(accounting::parseTaskStat("4242 (qemu) R 1 2 3 4 5 6 7 8 9 10 x y", 100));
}

TEST(Accounting, SchedstatDelayIsTheSecondField) {
    EXPECT_EQ(accounting::parseSchedstatDelay("13157227911 1083453 4142\n"), 1083453U);
    EXPECT_FALSE(accounting::parseSchedstatDelay("garbage").has_value());
}

TEST(Accounting, VmRssFromStatus) {
    std::string status = "Name:\tqemu-system-x86\nVmPeak:\t 2000000 kB\nVmRSS:\t  183244 kB\n"
                         "RssAnon:\t  100 kB\n";
    EXPECT_EQ(accounting::parseVmRssKiB(status), 183244U);
    EXPECT_FALSE(accounting::parseVmRssKiB("Name:\tkthread\n").has_value());
}

TEST(Accounting, CpuListsAreRanges) {
    EXPECT_EQ(accounting::cpuListString({0, 1, 2, 3}), "0-3");
    EXPECT_EQ(accounting::cpuListString({0, 2, 3, 7}), "0,2-3,7");
    EXPECT_EQ(accounting::cpuListString({}), "");
}

TEST(Accounting, OwnProcessIsReadable) {
    // The readers on a real task: this test's own process and main thread.
    auto self = accounting::readTaskStat(::getpid());
    ASSERT_TRUE(self.has_value());
    EXPECT_GE(self->processor, 0);
    EXPECT_TRUE(accounting::readVmRssKiB(::getpid()).value_or(0) > 0);
    EXPECT_FALSE(accounting::readAffinity(::getpid()).empty());
}

TEST(Accounting, DiskTargetsOfBootAndHotpluggedDisks) {
    EXPECT_EQ(accounting::diskTargetOf({{"device", "drive-vda"}, {"qdev", "vda"}}), "vda");
    EXPECT_EQ(accounting::diskTargetOf(
                  {{"device", ""}, {"qdev", "/machine/peripheral/vdb/virtio-backend"}}),
              "vdb");
    EXPECT_EQ(accounting::diskTargetOf({{"device", "pflash0"}}), "");
}

TEST(Accounting, BlockStatsCarryCountersAndSizes) {
    DomainDef def;
    DiskDef disk;
    disk.targetDev = "vda";
    disk.source = "/nonexistent/disk.img";
    def.disks.push_back(disk);
    auto blockstats = nlohmann::json::parse(R"([
        {"device": "drive-vda", "qdev": "vda", "stats": {"rd_operations": 10, "rd_bytes": 4096,
         "rd_total_time_ns": 77, "wr_operations": 2, "wr_bytes": 1024, "wr_total_time_ns": 5,
         "flush_operations": 1, "flush_total_time_ns": 3}},
        {"device": "pflash0", "stats": {"rd_operations": 1}}])");
    auto blocks = nlohmann::json::parse(R"([
        {"device": "drive-vda", "inserted": {"image": {"virtual-size": 67108864,
         "actual-size": 200704}}}])");
    Stats s;
    accounting::addBlockStats(s, def, blockstats, blocks);
    EXPECT_EQ(u64Of(s, "block.count"), 1U);
    EXPECT_EQ(strOf(s, "block.0.name"), "vda");
    EXPECT_EQ(strOf(s, "block.0.path"), "/nonexistent/disk.img");
    EXPECT_EQ(u64Of(s, "block.0.rd.reqs"), 10U);
    EXPECT_EQ(u64Of(s, "block.0.rd.times"), 77U);
    EXPECT_EQ(u64Of(s, "block.0.wr.bytes"), 1024U);
    EXPECT_EQ(u64Of(s, "block.0.fl.times"), 3U);
    EXPECT_EQ(u64Of(s, "block.0.capacity"), 67108864U);
    EXPECT_EQ(u64Of(s, "block.0.allocation"), 200704U);
    // The source cannot be stat()ed: the container is as large as what is allocated.
    EXPECT_EQ(u64Of(s, "block.0.physical"), 200704U);
}

TEST(Accounting, BalloonCurrentIsTheBalloonsActualSize) {
    DomainDef def;
    def.memoryKiB = 262144;
    def.currentMemoryKiB = 262144;
    Stats withBalloon;
    accounting::addBalloonStats(withBalloon, ::getpid(), def,
                                nlohmann::json{{"actual", 134217728}});
    EXPECT_EQ(u64Of(withBalloon, "balloon.current"), 131072U);
    EXPECT_EQ(u64Of(withBalloon, "balloon.maximum"), 262144U);
    EXPECT_TRUE(u64Of(withBalloon, "balloon.rss").value_or(0) > 0);
    Stats without;
    accounting::addBalloonStats(without, ::getpid(), def, std::nullopt);
    EXPECT_EQ(u64Of(without, "balloon.current"), 262144U);
}

TEST(Accounting, VcpuThreadsFromQueryCpusFast) {
    // This process's own thread stands for a vCPU thread.
    auto cpus = nlohmann::json::array({{{"cpu-index", 0}, {"thread-id", ::getpid()}},
                                       {{"cpu-index", 1}, {"thread-id", ::getpid()}}});
    Stats s;
    accounting::addVcpuStats(s, ::getpid(), 4, cpus);
    EXPECT_EQ(u64Of(s, "vcpu.current"), 2U);
    EXPECT_EQ(u64Of(s, "vcpu.maximum"), 4U);
    EXPECT_TRUE(u64Of(s, "vcpu.1.time").has_value());
    EXPECT_FALSE(strOf(s, "vcpuhost.0.affinity").value_or("").empty());
}
