// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "file_key.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/reexec.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::lock {
namespace {

constexpr auto kAcquire = actions::forMethod(names::kLockManagerInterface, "Acquire");
constexpr auto kSetProcess = actions::forMethod(names::kLockManagerInterface, "SetProcess");
constexpr auto kRelease = actions::forMethod(names::kLockManagerInterface, "Release");
constexpr auto kListLeases = actions::forMethod(names::kLockManagerInterface, "ListLeases");
constexpr auto kReexec = actions::forMethod(names::kLockManagerInterface, "Reexec");

// Paths are only names for messages and Release, but they are kept: bound them.
constexpr size_t kMaxPathLength = 4096;

Result<void> checkPath(const std::string& path) {
    if (path.empty() || path.size() > kMaxPathLength) {
        return Error(Code::InvalidArgs, "a disk path must have 1 to " +
                                            std::to_string(kMaxPathLength) + " characters");
    }
    return success();
}

// The descriptors are read now, while the message holds them; polkit answers later.
Result<std::vector<LeaseRequest>> leaseRequests(const std::vector<ManagerObject::Disk>& disks) {
    // No disks is a take-over (LeaseTable::acquire).
    if (disks.size() > LeaseTable::kMaxDisksPerCall) {
        return Error(Code::LimitsExceeded, "at most " +
                                               std::to_string(LeaseTable::kMaxDisksPerCall) +
                                               " disks per request");
    }
    std::vector<LeaseRequest> requests;
    for (const auto& disk : disks) {
        const std::string& path = disk.get<1>();
        if (auto r = checkPath(path); !r) {
            return r.takeError();
        }
        LeaseMode mode = disk.get<2>() ? LeaseMode::Shared : LeaseMode::Exclusive;
        auto key = fileKey(disk.get<0>().get(), mode, path);
        if (!key) {
            return key.takeError();
        }
        requests.push_back(LeaseRequest{std::move(key).value(), path, mode});
    }
    return requests;
}

PolkitDetails leaseDetails(const Result<std::string>& domain) {
    return domain ? PolkitDetails{{"domain_uuid", domain.value()}} : PolkitDetails{};
}

} // namespace

ManagerObject::ManagerObject(LockService& service, std::function<void()> reexec)
    : AdaptorInterfaces(service.connection(), names::kLockRootPath)
    , m_service(service)
    , m_reexec(std::move(reexec))
    , m_gate(
          getObject(), service.authority(), [] { return PolkitDetails{}; },
          [] { return Error(Code::HypervisorGone, "virtswarm-lockd is stopping"); }) {
    registerAdaptor();
}

ManagerObject::~ManagerObject() {
    unregisterAdaptor();
}

void ManagerObject::Acquire(sdbus::Result<>&& result, std::string domainUuid,
                            std::vector<Disk> disks, Options options) {
    auto domain = domainUuidArgument(domainUuid);
    auto requests = leaseRequests(disks);
    m_gate.handleFor(
        std::move(result), service::firstError(checkOptions(options, {}), domain, requests),
        kAcquire, leaseDetails(domain),
        [this, domain = domain.value_or(""), requests = requests.value_or({})](
            const SharedResult<>& shared, const service::MethodGate::AuthorizedCaller& caller) {
            reply(shared, m_service.acquire(domain, caller.sender, caller.uid, requests));
        });
}

void ManagerObject::SetProcess(sdbus::Result<>&& result, std::string domainUuid,
                               sdbus::UnixFd pidfd, Options options) {
    auto domain = domainUuidArgument(domainUuid);
    // Our own copy: the message's goes when this handler returns.
    auto held = std::make_shared<sdbus::UnixFd>(pidfd);
    m_gate.handleFor(
        std::move(result), service::firstError(checkOptions(options, {}), domain), kSetProcess,
        leaseDetails(domain),
        [this, domain = domain.value_or(""),
         held](const SharedResult<>& shared, const service::MethodGate::AuthorizedCaller& caller) {
            reply(shared, m_service.setProcess(domain, caller.sender, held->get()));
        });
}

void ManagerObject::Release(sdbus::Result<>&& result, std::string domainUuid,
                            std::vector<std::string> paths, Options options) {
    auto domain = domainUuidArgument(domainUuid);
    Result<void> pathsOk = paths.size() > LeaseTable::kMaxDisksPerCall
                               ? Result<void>(Error(Code::LimitsExceeded, "too many paths"))
                               : success();
    for (const auto& path : paths) {
        if (pathsOk) {
            pathsOk = checkPath(path);
        }
    }
    m_gate.handleFor(
        std::move(result), service::firstError(checkOptions(options, {}), domain, pathsOk),
        kRelease, leaseDetails(domain),
        [this, domain = domain.value_or(""), paths = std::move(paths)](
            const SharedResult<>& shared, const service::MethodGate::AuthorizedCaller& caller) {
            reply(shared, m_service.release(domain, caller.sender, caller.uid, paths));
        });
}

void ManagerObject::ListLeases(sdbus::Result<std::vector<LeaseRow>>&& result, Options options) {
    m_gate.handleFor(std::move(result), checkOptions(options, {}), kListLeases, {},
                     [this](const SharedResult<std::vector<LeaseRow>>& shared,
                            const service::MethodGate::AuthorizedCaller&) {
                         std::vector<LeaseRow> rows;
                         for (const auto& [domain, owner] : m_service.table().owners()) {
                             for (const auto& [key, lease] : owner.leases) {
                                 rows.emplace_back(lease.path, key, leaseModeName(lease.mode),
                                                   domain, owner.holder);
                             }
                         }
                         shared->returnResults(rows);
                     });
}

void ManagerObject::Reexec(sdbus::Result<>&& result, Options options) {
    service::handleReexecMethod(m_gate, std::move(result), options, kReexec, m_reexec);
}

std::string ManagerObject::Version() {
    return VIRTSWARM_VERSION;
}

} // namespace virtswarm::lock
