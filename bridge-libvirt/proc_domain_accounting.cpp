// SPDX-License-Identifier: LGPL-2.1-or-later
// Per-domain accounting procedures (virsh dominfo, vcpuinfo, cpu-stats --total, dommemstat,
// domblkstat, domblkinfo, domifstat): one Domain.GetStats round trip each, whose libvirt-named
// keys become the structures these older APIs return. As libvirt, they need domain:read and
// a running domain (dominfo excepted: an inactive domain's info comes from the cache).
#include "domain_stats_record.hpp"
#include "procedures.hpp"
#include "protocol.hpp"
#include "virtswarm/libvirt_enums.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

// remote_protocol.x limits.
constexpr uint32_t kVcpuInfoMax = 16384;
constexpr uint32_t kCpuMapsMax = 8388608;
constexpr uint32_t kMemoryStatsMax = 1024;
constexpr uint32_t kBlockStatsParametersMax = 16;
constexpr uint32_t kCpuStatsNcpusMax = 128;
constexpr uint32_t kNodeCpuStatsMax = 16;

using Then = std::function<void(const CachedDomain&, const DomainStatsRecord&)>;

// The domain's statistics once the client may read it and it runs.
void withStats(Services& services, const CallPtr& call, const RemoteDomain& dom, Then then) {
    withDomain(services, call, dom, [&services, call, then](const CachedDomain& d) {
        if (!d.active()) {
            call->fail(Error(Code::InvalidState, "domain is not running"));
            return;
        }
        CachedDomain domain = d;
        authorize(services, call, "org.virtswarm.domain.read", d.name, d.uuid,
                  [&services, call, then, domain] {
                      services.registry.getStats(
                          domain.path, [call, then, domain](Result<PropertyMap> stats) {
                              if (!stats) {
                                  call->fail(stats.error());
                                  return;
                              }
                              then(domain, DomainStatsRecord(std::move(stats).value()));
                          });
                  });
    });
}

void writeInfo(const CallPtr& call, const CachedDomain& d, uint64_t memoryKiB, uint32_t vcpus,
               uint64_t cpuTime) {
    xdr::Writer w;
    w.u32(static_cast<uint32_t>(libvirtStateNumber(d.state)));
    w.u64(d.memoryKiB);
    w.u64(memoryKiB);
    w.u32(vcpus);
    w.u64(cpuTime);
    call->reply(w);
}

void getInfo(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    if (!argsDone(call, args)) {
        return;
    }
    withDomain(services, call, dom, [&services, call, dom](const CachedDomain& d) {
        if (!d.active()) {
            // As libvirt: an inactive domain's used memory and CPUs are what it boots with.
            writeInfo(call, d, d.currentMemoryKiB, d.currentVcpus, 0);
            return;
        }
        withStats(services, call, dom,
                  [call](const CachedDomain& running, const DomainStatsRecord& s) {
                      writeInfo(call, running, s.u64Or("balloon.current", running.memoryKiB),
                                static_cast<uint32_t>(s.u64Or("vcpu.current", running.vcpus)),
                                s.u64Or("cpu.time", 0));
                  });
    });
}

void getVcpus(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    int32_t maxinfo = args.i32();
    int32_t maplen = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (maxinfo < 1 || static_cast<uint32_t>(maxinfo) > kVcpuInfoMax || maplen < 0 ||
        static_cast<uint64_t>(maxinfo) * static_cast<uint64_t>(maplen) > kCpuMapsMax) {
        call->fail(Error(Code::InvalidArgs, "maxinfo " + std::to_string(maxinfo) + " or maplen " +
                                                std::to_string(maplen) + " is out of range"));
        return;
    }
    withStats(
        services, call, dom,
        [call, maxinfo, maplen](const CachedDomain&, const DomainStatsRecord& s) {
            auto count = static_cast<int32_t>(
                std::min<uint64_t>(s.u64Or("vcpu.current", 0), static_cast<uint64_t>(maxinfo)));
            std::vector<uint8_t> maps(static_cast<size_t>(maxinfo) * static_cast<size_t>(maplen));
            xdr::Writer w;
            w.u32(static_cast<uint32_t>(count));
            for (int32_t i = 0; i < count; ++i) {
                std::string n = std::to_string(i);
                w.u32(static_cast<uint32_t>(i));
                w.i32(static_cast<int32_t>(s.i64("vcpu." + n + ".state").value_or(1)));
                w.u64(s.u64Or("vcpu." + n + ".time", 0));
                w.i32(static_cast<int32_t>(s.i64("vcpuhost." + n + ".cpu").value_or(-1)));
                // "0-1,3": the CPUs the vCPU thread may run on, as bits of its map.
                std::string list = s.str("vcpuhost." + n + ".affinity").value_or("");
                for (size_t pos = 0; pos < list.size();) {
                    size_t end = list.find(',', pos);
                    std::string range = list.substr(pos, end - pos);
                    size_t dash = range.find('-');
                    int first = std::atoi(range.c_str());
                    int last =
                        dash == std::string::npos ? first : std::atoi(range.c_str() + dash + 1);
                    for (int c = first; c <= last && c / 8 < maplen; ++c) {
                        maps[static_cast<size_t>(i * maplen + c / 8)] |=
                            static_cast<uint8_t>(1U << (c % 8));
                    }
                    pos = end == std::string::npos ? list.size() : end + 1;
                }
            }
            w.opaque(maps);
            call->reply(w);
        });
}

void getCpuStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t nparams = args.u32();
    int32_t startCpu = args.i32();
    uint32_t ncpus = args.u32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (nparams > kNodeCpuStatsMax || ncpus > kCpuStatsNcpusMax) {
        call->fail(Error(Code::InvalidArgs, "nparams or ncpus is out of range"));
        return;
    }
    if (startCpu != -1) {
        // Per-host-CPU time needs cgroup v1's cpuacct.usage_percpu; the unified hierarchy
        // has no per-CPU usage, and /proc counts a thread's time, not where it ran.
        call->fail(Error(Code::NotSupported,
                         "per-CPU statistics are not available; ask for the total (start_cpu -1)"));
        return;
    }
    withStats(
        services, call, dom, [call, nparams](const CachedDomain&, const DomainStatsRecord& s) {
            const std::pair<const char*, const char*> kParams[] = {
                {"cpu_time", "cpu.time"}, {"user_time", "cpu.user"}, {"system_time", "cpu.system"}};
            std::vector<TypedParam> params;
            for (const auto& [field, key] : kParams) {
                if (params.size() < nparams) {
                    params.push_back(TypedParam{field, TypedValue(s.u64Or(key, 0))});
                }
            }
            xdr::Writer w;
            writeTypedParams(w, params);
            w.i32(std::size(kParams)); // parameters per CPU
            call->reply(w);
        });
}

void memoryStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t maxStats = args.u32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (maxStats > kMemoryStatsMax) {
        call->fail(
            Error(Code::InvalidArgs, "maxStats " + std::to_string(maxStats) + " is out of range"));
        return;
    }
    withStats(
        services, call, dom, [call, maxStats](const CachedDomain&, const DomainStatsRecord& s) {
            // virDomainMemoryStatTags, in libvirt's order, and the domstats key of each.
            static constexpr std::pair<int32_t, const char*> kTags[] = {
                {0, "balloon.swap_in"},     {1, "balloon.swap_out"},    {2, "balloon.major_fault"},
                {3, "balloon.minor_fault"}, {4, "balloon.unused"},      {5, "balloon.available"},
                {6, "balloon.current"},     {7, "balloon.rss"},         {8, "balloon.usable"},
                {9, "balloon.last-update"}, {10, "balloon.disk_caches"}};
            std::vector<std::pair<int32_t, uint64_t>> found;
            for (const auto& [tag, key] : kTags) {
                if (auto v = s.u64(key); v && found.size() < maxStats) {
                    found.emplace_back(tag, *v);
                }
            }
            xdr::Writer w;
            w.u32(static_cast<uint32_t>(found.size()));
            for (const auto& [tag, value] : found) {
                w.i32(tag);
                w.u64(value);
            }
            call->reply(w);
        });
}

// The block.N entry a client names by target ("vda") or source path; "" is every disk.
std::optional<std::vector<std::string>>
blockPrefixes(const CallPtr& call, const DomainStatsRecord& s, const std::string& path) {
    std::vector<std::string> prefixes;
    if (path.empty()) {
        for (uint64_t i = 0; i < s.u64Or("block.count", 0); ++i) {
            prefixes.push_back("block." + std::to_string(i) + ".");
        }
        return prefixes;
    }
    auto index = s.find("block", {"name", "path"}, path);
    if (!index) {
        call->fail(Error(Code::InvalidArgs, "invalid path: " + path));
        return std::nullopt;
    }
    prefixes.push_back("block." + std::to_string(*index) + ".");
    return prefixes;
}

uint64_t sum(const DomainStatsRecord& s, const std::vector<std::string>& prefixes,
             const char* field) {
    uint64_t total = 0;
    for (const auto& p : prefixes) {
        total += s.u64Or(p + field, 0);
    }
    return total;
}

void blockStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    bool withFlags = call->procedure() == proto::DomainBlockStatsFlags;
    RemoteDomain dom = readDomain(args);
    std::string path = args.string(proto::kStringMax);
    int32_t nparams = withFlags ? args.i32() : 0;
    if (withFlags) {
        (void)args.u32(); // flags
    }
    if (!argsDone(call, args)) {
        return;
    }
    if (nparams < 0 || static_cast<uint32_t>(nparams) > kBlockStatsParametersMax) {
        call->fail(Error(Code::InvalidArgs, "nparams is out of range"));
        return;
    }
    withStats(services, call, dom,
              [call, path, withFlags, nparams](const CachedDomain&, const DomainStatsRecord& s) {
                  auto prefixes = blockPrefixes(call, s, path);
                  if (!prefixes) {
                      return;
                  }
                  xdr::Writer w;
                  if (!withFlags) {
                      w.u64(sum(s, *prefixes, "rd.reqs"));
                      w.u64(sum(s, *prefixes, "rd.bytes"));
                      w.u64(sum(s, *prefixes, "wr.reqs"));
                      w.u64(sum(s, *prefixes, "wr.bytes"));
                      w.i64(-1); // errs: QEMU does not count them
                      call->reply(w);
                      return;
                  }
                  // virDomainBlockStatsFlags' fields, in the order libvirt's QEMU driver fills
                  // them.
                  static constexpr std::pair<const char*, const char*> kFields[] = {
                      {"wr_bytes", "wr.bytes"},        {"wr_operations", "wr.reqs"},
                      {"rd_bytes", "rd.bytes"},        {"rd_operations", "rd.reqs"},
                      {"flush_operations", "fl.reqs"}, {"wr_total_times", "wr.times"},
                      {"rd_total_times", "rd.times"},  {"flush_total_times", "fl.times"}};
                  std::vector<TypedParam> params;
                  for (const auto& [field, key] : kFields) {
                      if (params.size() < static_cast<size_t>(nparams)) {
                          params.push_back(TypedParam{
                              field, TypedValue(static_cast<int64_t>(sum(s, *prefixes, key)))});
                      }
                  }
                  writeTypedParams(w, params);
                  w.i32(std::size(kFields));
                  call->reply(w);
              });
}

void blockInfo(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    std::string path = args.string(proto::kStringMax);
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    withStats(services, call, dom, [call, path](const CachedDomain&, const DomainStatsRecord& s) {
        auto index = path.empty() ? std::nullopt : s.find("block", {"name", "path"}, path);
        if (!index) {
            call->fail(
                Error(Code::InvalidArgs, "invalid path " + path + " not assigned to domain"));
            return;
        }
        std::string p = "block." + std::to_string(*index) + ".";
        if (!s.has(p + "capacity")) {
            call->fail(Error(Code::InvalidState, "disk " + path + " has no medium"));
            return;
        }
        xdr::Writer w;
        w.u64(s.u64Or(p + "allocation", 0));
        w.u64(s.u64Or(p + "capacity", 0));
        w.u64(s.u64Or(p + "physical", 0));
        call->reply(w);
    });
}

void interfaceStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    std::string device = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    withStats(services, call, dom, [call, device](const CachedDomain&, const DomainStatsRecord& s) {
        std::string lower = device;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto index = s.find("net", {"name", "mac"}, device);
        if (!index) {
            index = s.find("net", {"mac"}, lower);
        }
        if (!index) {
            call->fail(Error(Code::InvalidArgs,
                             "invalid path, '" + device + "' is not a known interface"));
            return;
        }
        std::string p = "net." + std::to_string(*index) + ".";
        if (!s.has(p + "rx.bytes")) {
            call->fail(Error(Code::NotSupported, "interface '" + device +
                                                     "' has no host device to count its traffic "
                                                     "(user-mode networking)"));
            return;
        }
        xdr::Writer w;
        for (const char* field : {"rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes",
                                  "tx.pkts", "tx.errs", "tx.drop"}) {
            w.i64(s.i64(p + field).value_or(-1));
        }
        call->reply(w);
    });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainGetInfo, "virDomainGetInfo", Access::Read, getInfo},
    {proto::DomainGetVcpus, "virDomainGetVcpus", Access::Read, getVcpus},
    {proto::DomainGetCpuStats, "virDomainGetCPUStats", Access::Read, getCpuStats},
    {proto::DomainMemoryStats, "virDomainMemoryStats", Access::Read, memoryStats},
    {proto::DomainBlockStats, "virDomainBlockStats", Access::Read, blockStats},
    {proto::DomainBlockStatsFlags, "virDomainBlockStatsFlags", Access::Read, blockStats},
    {proto::DomainGetBlockInfo, "virDomainGetBlockInfo", Access::Read, blockInfo},
    {proto::DomainInterfaceStats, "virDomainInterfaceStats", Access::Read, interfaceStats},
};

} // namespace

std::span<const Procedure> domainAccountingProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
