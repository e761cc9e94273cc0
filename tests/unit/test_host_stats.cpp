// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's host figures (virsh freecell, nodecpumap, nodecpustats, nodememstats) parsed
// from recorded kernel files as libvirt's Linux host code reads them.
#include "host_stats.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm::bridge;

TEST(HostStats, HostMeminfo) {
    auto m = parseMeminfo("MemTotal:       24683792 kB\nMemFree:        16772044 kB\n"
                          "MemAvailable:   22000000 kB\nBuffers:          123456 kB\n"
                          "Cached:          5000000 kB\nSwapCached:            0 kB\n");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->totalKiB, 24683792U);
    EXPECT_EQ(m->freeKiB, 16772044U);
    EXPECT_EQ(m->buffersKiB, 123456U);
    EXPECT_EQ(m->cachedKiB, 5000000U); // not SwapCached
}

TEST(HostStats, NumaNodeMeminfoHasNoBuffersOrCache) {
    auto m = parseMeminfo("Node 0 MemTotal:       24683792 kB\nNode 0 MemFree:        16772044 kB\n"
                          "Node 0 MemUsed:         7911748 kB\nNode 0 FilePages:  100 kB\n");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->totalKiB, 24683792U);
    EXPECT_EQ(m->freeKiB, 16772044U);
    EXPECT_FALSE(m->buffersKiB.has_value());
    EXPECT_FALSE(m->cachedKiB.has_value());
    EXPECT_FALSE(parseMeminfo("MemTotal: 1 kB\n").has_value());
}

TEST(HostStats, CpuLists) {
    EXPECT_EQ(parseCpuList("0-1\n"), (std::vector<int>{0, 1}));
    EXPECT_EQ(parseCpuList("0,2-4,7"), (std::vector<int>{0, 2, 3, 4, 7}));
    EXPECT_FALSE(parseCpuList("3-1").has_value());
    EXPECT_FALSE(parseCpuList("x").has_value());
}

TEST(HostStats, ProcStatInLibvirtsFourFigures) {
    std::string stat = "cpu  154570 61293 22847 98462 433 10 115 150 0 0\n"
                       "cpu0 74404 33572 10633 50191 58 0 6 78 0 0\n"
                       "cpu1 80166 27721 12213 48270 374 0 108 71 0 0\n"
                       "intr 1 2 3\n";
    constexpr uint64_t kTick = 10000000; // 100 Hz
    auto all = parseProcStatCpu(stat, -1, 100);
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->user, (154570U + 61293U) * kTick);
    EXPECT_EQ(all->kernel, (22847U + 10U + 115U) * kTick);
    EXPECT_EQ(all->idle, 98462U * kTick);
    EXPECT_EQ(all->iowait, 433U * kTick);
    auto one = parseProcStatCpu(stat, 1, 100);
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->idle, 48270U * kTick);
    EXPECT_FALSE(parseProcStatCpu(stat, 2, 100).has_value());
    // "cpu1" must not match "cpu10".
    EXPECT_FALSE(parseProcStatCpu("cpu10 1 2 3 4 5 6 7\n", 1, 100).has_value());
}

TEST(HostStats, ThisHostsFigures) {
    EXPECT_FALSE(presentCpus().empty());
    EXPECT_EQ(onlineCpus().size(), static_cast<size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
    auto m = memoryFigures(-1);
    ASSERT_TRUE(m.has_value());
    EXPECT_GT(m->totalKiB, m->freeKiB);
    EXPECT_TRUE(cpuTimes(-1).has_value());
    EXPECT_NE(sysinfoXml().find("<sysinfo type='smbios'>"), std::string::npos);
}
