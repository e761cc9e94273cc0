// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage_client.hpp"

#include "virtswarm/log.hpp"

namespace virtswarm::bridge {

StorageClient::StorageClient(sdbus::IConnection& bus, EventLoop& loop)
    : OwnedService(bus, loop, serviceNamesOf<StoragePoolKind>())
    , pools(ownService)
    , volumes(ownService) {
    ownService.onSignal(names::kStorageJobInterface, "Completed",
                        [this](sdbus::Message& m) { onJobCompleted(m); });
    ownService.onOwnerChanged([this] { failJobs(); });
    ownService.onSignal("PoolRefreshed", [this](sdbus::Message& m) { onPoolRefreshed(m); });
}

void StorageClient::onPoolRefreshed(sdbus::Message& message) {
    sdbus::ObjectPath path;
    std::string name, uuid;
    message >> path >> name >> uuid;
    auto parsed = parseUuid(uuid);
    if (parsed && m_onRefreshed) {
        m_onRefreshed(RemoteStoragePool{name, parsed.value()});
    }
}

// storaged removes a transient pool once it is stopped, and an undefined pool once it is
// inactive, only after replying (ObjectClient::actionThenForget).
void StorageClient::poolAction(const std::string& poolPath, const std::string& method, Done done) {
    if (method == "Stop") {
        pools.actionThenForget(
            poolPath, method, kLongTimeout, [](const CachedPool& p) { return !p.persistent; },
            std::move(done));
    } else if (method == "Undefine") {
        pools.actionThenForget(
            poolPath, method, kLongTimeout, [](const CachedPool& p) { return !p.active; },
            std::move(done));
    } else {
        pools.action(poolPath, method, kLongTimeout, {}, std::move(done));
    }
}

void StorageClient::createVolume(const std::string& poolPath, const std::string& xml,
                                 Then<std::string> done) {
    pools.call<sdbus::ObjectPath>(
        poolPath, "CreateVolume", kLongTimeout,
        [&xml](sdbus::MethodCall& m) { m << xml << Options{}; },
        [done = std::move(done)](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void StorageClient::cloneVolume(const std::string& poolPath, const std::string& sourcePath,
                                const std::string& xml, Done done) {
    runJob(
        poolPath, names::kStoragePoolInterface, "CloneVolume",
        [&sourcePath, &xml](sdbus::MethodCall& m) {
            m << sdbus::ObjectPath(sourcePath) << xml << Options{};
        },
        std::move(done));
}

void StorageClient::deleteVolume(const std::string& path, Done done) {
    // The cache forgets the volume at once: the client's next vol-list must not show it.
    volumes.actionThenForget(
        path, "Delete", ServiceClient::kCallTimeout, [](const CachedVolume&) { return true; },
        std::move(done));
}

void StorageClient::resizeVolume(const std::string& path, uint64_t capacity, bool shrink,
                                 Done done) {
    Options options;
    if (shrink) {
        options["shrink"] = sdbus::Variant(true);
    }
    ownService.callVoid(
        path, names::kStorageVolumeInterface, "Resize", kLongTimeout,
        [capacity, &options](sdbus::MethodCall& m) { m << capacity << options; }, std::move(done));
}

void StorageClient::wipeVolume(const std::string& path, Done done) {
    runJob(
        path, names::kStorageVolumeInterface, "Wipe", [](sdbus::MethodCall& m) { m << Options{}; },
        std::move(done));
}

void StorageClient::transfer(const std::string& path, const char* method, int fd, Options options,
                             Done done) {
    runJob(
        path, names::kStorageVolumeInterface, method,
        [fd, options](sdbus::MethodCall& m) { m << sdbus::UnixFd(fd) << options; },
        std::move(done));
}

void StorageClient::runJob(const std::string& path, const char* interface, const char* method,
                           const ServiceClient::Fill& fill, Done done) {
    ownService.callReturning<sdbus::ObjectPath>(
        path, interface, method, ServiceClient::kCallTimeout, fill,
        [this, done = std::move(done)](Result<sdbus::ObjectPath> job) {
            if (!job) {
                done(job.takeError());
                return;
            }
            // storaged replies before the job can complete (the work runs in its child), and
            // the bus keeps the order: Completed arrives after this.
            m_jobs[job.value()] = done;
        });
}

void StorageClient::onJobCompleted(sdbus::Message& message) {
    auto it = m_jobs.find(message.getPath());
    if (it == m_jobs.end()) {
        return; // another client's job
    }
    bool ok = false;
    std::string error;
    message >> ok >> error;
    Done done = std::move(it->second);
    m_jobs.erase(it);
    done(ok ? success() : Result<void>(Error(Code::OperationFailed, error)));
}

void StorageClient::failJobs() {
    auto jobs = std::move(m_jobs);
    m_jobs.clear();
    for (auto& [path, done] : jobs) {
        done(Error(Code::OperationFailed, "the storage daemon left the bus during job " + path));
    }
}

} // namespace virtswarm::bridge
