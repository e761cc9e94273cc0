// SPDX-License-Identifier: LGPL-2.1-or-later
// A domain's job: DOMAIN_GET_JOB_INFO and GET_JOB_STATS (virsh domjobinfo [--completed])
// and ABORT_JOB[_FLAGS] (virsh domjobabort), from Domain.GetJobInfo / AbortJob. The only
// job a domain has is a save while it streams; the registry keeps the figures of the last
// one finished.
#include "domain_stats_record.hpp"
#include "procedures.hpp"
#include "protocol.hpp"

namespace virtswarm::bridge {
namespace {

constexpr auto kGetJobInfo = actions::forMethod(names::kDomainInterface, "GetJobInfo");
constexpr auto kAbortJob = actions::forMethod(names::kDomainInterface, "AbortJob");
// REMOTE_DOMAIN_JOB_STATS_MAX
constexpr size_t kJobStatsMax = 64;
// VIR_DOMAIN_JOB_STATS_COMPLETED / _KEEP_COMPLETED: statistics of the last finished job,
// kept by the registry until read without KEEP_COMPLETED.
constexpr uint32_t kStatsCompleted = 1, kStatsKeepCompleted = 2;
// VIR_DOMAIN_ABORT_JOB_POSTCOPY: abort an outgoing migration in post-copy mode.
constexpr uint32_t kAbortPostcopy = 1;
// The job-stats keys libvirt's QEMU driver sends, in its order (type comes first, alone).
constexpr const char* kJobStatsKeys[] = {"operation",
                                         "time_elapsed",
                                         "downtime",
                                         "setup_time",
                                         "data_total",
                                         "data_processed",
                                         "data_remaining",
                                         "memory_total",
                                         "memory_processed",
                                         "memory_remaining",
                                         "memory_bps",
                                         "memory_constant",
                                         "memory_normal",
                                         "memory_normal_bytes",
                                         "memory_dirty_rate",
                                         "memory_iteration",
                                         "memory_postcopy_requests",
                                         "memory_page_size"};

// After the client's read check, the domain's job as Domain.GetJobInfo reports it.
void withJob(Services& services, const CallPtr& call, const RemoteDomain& dom, Options options,
             std::function<void(DomainStatsRecord)> then) {
    withDomain(services, call, dom, [&services, call, options, then](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(services, call, kGetJobInfo, d,
                                    [&services, call, path, options, then] {
                                        services.registry.call<PropertyMap>(
                                            path, "GetJobInfo", ServiceClient::kCallTimeout,
                                            [options](sdbus::MethodCall& m) { m << options; },
                                            [call, then](Result<PropertyMap> job) {
                                                if (!job) {
                                                    call->fail(job.error());
                                                    return;
                                                }
                                                then(DomainStatsRecord(std::move(job).value()));
                                            });
                                    });
    });
}

void getJobInfo(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    if (!argsDone(call, args)) {
        return;
    }
    withJob(services, call, dom, Options{}, [call](const DomainStatsRecord& job) {
        xdr::Writer w;
        w.i32(static_cast<int32_t>(job.i64("type").value_or(0)));
        uint64_t memTotal = job.u64Or("memory_total", 0);
        uint64_t memProcessed = job.u64Or("memory_processed", 0);
        uint64_t memRemaining = job.u64Or("memory_remaining", 0);
        // timeElapsed, timeRemaining; data (memory and disk) then memory then file.
        for (uint64_t v :
             {job.u64Or("time_elapsed", 0), uint64_t{0}, memTotal, memProcessed, memRemaining,
              memTotal, memProcessed, memRemaining, uint64_t{0}, uint64_t{0}, uint64_t{0}}) {
            w.u64(v);
        }
        call->reply(w);
    });
}

void getJobStats(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kStatsCompleted | kStatsKeepCompleted)) {
        return;
    }
    Options options;
    if ((flags & kStatsCompleted) != 0) {
        options.emplace("completed", sdbus::Variant(true));
    }
    if ((flags & kStatsKeepCompleted) != 0) {
        options.emplace("keep-completed", sdbus::Variant(true));
    }
    withJob(services, call, dom, std::move(options), [call](const DomainStatsRecord& job) {
        xdr::Writer w;
        std::vector<TypedParam> params;
        int32_t type = static_cast<int32_t>(job.i64("type").value_or(0));
        if (type != 0) {
            for (const char* key : kJobStatsKeys) {
                if (auto v = job.typed(key)) {
                    params.push_back({key, *v});
                }
            }
        }
        params.resize(std::min(params.size(), kJobStatsMax));
        w.i32(type);
        writeTypedParams(w, params);
        call->reply(w);
    });
}

void abortJob(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = call->procedure() == proto::DomainAbortJobFlags ? args.u32() : 0;
    if (!argsDone(call, args) || !flagsKnown(call, flags, kAbortPostcopy)) {
        return;
    }
    withDomain(services, call, dom, [&services, call, flags](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(services, call, kAbortJob, d, [&services, call, path, flags] {
            // A domain here never migrates, so it is never in post-copy (libvirt's words).
            if ((flags & kAbortPostcopy) != 0) {
                call->fail(Error(Code::InvalidState,
                                 "current job is not outgoing migration in post-copy mode"));
                return;
            }
            services.registry.domainCall(
                path, "AbortJob", [](sdbus::MethodCall& m) { m << Options{}; },
                [call](Result<void> r) { replyVoidOrFail(call, r); });
        });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainGetJobInfo, "virDomainGetJobInfo", Access::Read, getJobInfo},
    {proto::DomainGetJobStats, "virDomainGetJobStats", Access::Read, getJobStats},
    {proto::DomainAbortJob, "virDomainAbortJob", Access::Write, abortJob},
    {proto::DomainAbortJobFlags, "virDomainAbortJobFlags", Access::Write, abortJob},
};

} // namespace

std::span<const Procedure> domainJobProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
