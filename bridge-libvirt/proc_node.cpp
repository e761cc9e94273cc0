// SPDX-License-Identifier: LGPL-2.1-or-later
// Host calls (virsh freecell, nodecpumap, nodecpustats, nodememstats, sysinfo; Cockpit's and
// virt-manager's host pages): the host's figures as libvirt's Linux host code reports them,
// read from the kernel when asked (host_stats.hpp). No D-Bus round trip: the host is the
// bridge's own.
#include "host_stats.hpp"
#include "procedures.hpp"
#include "protocol.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

// remote_protocol.x limits, and libvirt's numbers of Linux node statistics.
constexpr int32_t kNodeMaxCells = 1024;
constexpr int32_t kNodeCpuStatsCount = 4;    // kernel, user, idle, iowait
constexpr int32_t kNodeMemoryStatsCount = 4; // total, free, buffers, cached

struct Field {
    std::string name;
    uint64_t value;
};

void replyFields(const CallPtr& call, const std::vector<Field>& fields, int32_t count) {
    xdr::Writer w;
    w.u32(static_cast<uint32_t>(fields.size()));
    for (const auto& f : fields) {
        w.string(f.name);
        w.u64(f.value);
    }
    w.i32(count);
    call->reply(w);
}

// The NUMA cells libvirt counts: the kernel's nodes, or the whole host as cell 0.
std::vector<int> cells() {
    auto nodes = numaNodes();
    return nodes.empty() ? std::vector<int>{0} : nodes;
}

void freeMemory(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    uint64_t freeKiB = 0;
    for (int cell : cells()) {
        freeKiB += memoryFigures(cell).value_or(MemoryFigures{}).freeKiB;
    }
    xdr::Writer w;
    w.u64(freeKiB * 1024); // bytes
    call->reply(w);
}

void cellsFreeMemory(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t start = args.i32();
    int32_t max = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    auto all = cells();
    int32_t last = all.back();
    if (max < 0 || max > kNodeMaxCells) {
        call->fail(
            Error(Code::InvalidArgs, "maxCells " + std::to_string(max) + " is out of range"));
        return;
    }
    if (start < 0 || start > last) {
        call->fail(Error(Code::InvalidArgs, "start cell " + std::to_string(start) +
                                                " out of range (0-" + std::to_string(last) + ")"));
        return;
    }
    xdr::Writer w;
    std::vector<uint64_t> free;
    for (int32_t cell = start; cell <= last && static_cast<int32_t>(free.size()) < max; ++cell) {
        free.push_back(memoryFigures(cell).value_or(MemoryFigures{}).freeKiB * 1024);
    }
    w.u32(static_cast<uint32_t>(free.size()));
    for (uint64_t bytes : free) {
        w.u64(bytes);
    }
    call->reply(w);
}

void cpuMap(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t needMap = args.i32();
    int32_t needOnline = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    auto present = presentCpus();
    auto online = onlineCpus();
    int32_t count = present.empty() ? 0 : present.back() + 1;
    std::vector<uint8_t> map;
    if (needMap != 0) {
        map.resize(static_cast<size_t>((count + 7) / 8));
        for (int c : online) {
            if (c < count) {
                map[static_cast<size_t>(c / 8)] |= static_cast<uint8_t>(1U << (c % 8));
            }
        }
    }
    xdr::Writer w;
    w.opaque(map);
    w.u32(needOnline != 0 ? static_cast<uint32_t>(online.size()) : 0);
    w.i32(count);
    call->reply(w);
}

void cpuStats(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t cpu = args.i32();
    int32_t nparams = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (nparams == 0) {
        replyFields(call, {}, kNodeCpuStatsCount);
        return;
    }
    if (nparams != kNodeCpuStatsCount) {
        call->fail(Error(Code::InvalidArgs, "nparams in virNodeGetCPUStats must be equal to " +
                                                std::to_string(kNodeCpuStatsCount)));
        return;
    }
    auto times = cpu >= -1 ? cpuTimes(cpu) : std::nullopt;
    if (!times) {
        call->fail(Error(Code::InvalidArgs, "Invalid cpuNum " + std::to_string(cpu)));
        return;
    }
    replyFields(call,
                {{"kernel", times->kernel},
                 {"user", times->user},
                 {"idle", times->idle},
                 {"iowait", times->iowait}},
                kNodeCpuStatsCount);
}

void memoryStats(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t nparams = args.i32();
    int32_t cell = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (nparams == 0) {
        replyFields(call, {}, kNodeMemoryStatsCount);
        return;
    }
    if (nparams < 0 || nparams > kNodeMemoryStatsCount) {
        call->fail(Error(Code::InvalidArgs, "nparams in virNodeGetMemoryStats must be at most " +
                                                std::to_string(kNodeMemoryStatsCount)));
        return;
    }
    auto all = cells();
    bool known = cell == -1 || std::find(all.begin(), all.end(), cell) != all.end();
    auto m = known ? memoryFigures(cell) : std::nullopt;
    if (!m) {
        call->fail(Error(Code::InvalidArgs, "Invalid cell number " + std::to_string(cell)));
        return;
    }
    // KiB, as libvirt; a NUMA node's meminfo has no buffers or cached figures.
    std::vector<Field> fields{{"total", m->totalKiB}, {"free", m->freeKiB}};
    if (m->buffersKiB) {
        fields.push_back({"buffers", *m->buffersKiB});
    }
    if (m->cachedKiB) {
        fields.push_back({"cached", *m->cachedKiB});
    }
    fields.resize(std::min(fields.size(), static_cast<size_t>(nparams)));
    replyFields(call, fields, static_cast<int32_t>(fields.size()));
}

void sysinfo(Services&, const CallPtr& call, xdr::Reader& args) {
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    xdr::Writer w;
    w.string(sysinfoXml());
    call->reply(w);
}

constexpr Procedure kProcedures[] = {
    {proto::NodeGetCellsFreeMemory, "virNodeGetCellsFreeMemory", Access::Read, cellsFreeMemory},
    {proto::NodeGetFreeMemory, "virNodeGetFreeMemory", Access::Read, freeMemory},
    {proto::ConnectGetSysinfo, "virConnectGetSysinfo", Access::Read, sysinfo},
    {proto::NodeGetCpuStats, "virNodeGetCPUStats", Access::Read, cpuStats},
    {proto::NodeGetMemoryStats, "virNodeGetMemoryStats", Access::Read, memoryStats},
    {proto::NodeGetCpuMap, "virNodeGetCPUMap", Access::Read, cpuMap},
};

} // namespace

std::span<const Procedure> nodeProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
