// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_client.hpp"
#include "storage_cache.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>

// The bridge's side of virtswarm-storaged (org.virtswarm.Storage1): one ServiceClient with
// the pool and the volume caches on it (an ObjectClient per kind), Manager.PoolEvent, and
// storaged's methods beyond every kind's, called asynchronously with timeouts. Work that
// storaged runs as a Job (clone, wipe, upload, download) completes when the job's Completed
// signal arrives; the bridge's loop never waits for it. Nothing is asked of storaged (nor is
// it activated) until a client uses a storage procedure.
namespace virtswarm::bridge {

class StorageClient : private OwnedService {
public:
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    // Build (mkfs, vgcreate), Start (mount) and volume creation may take a while.
    static constexpr std::chrono::milliseconds kLongTimeout{120000};

    StorageClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches; the caches are filled on first use.
    Result<void> start() { return ownService.start(false); }

    ObjectClient<StoragePoolKind> pools;
    ObjectClient<StorageVolKind> volumes;

    // Manager.PoolRefreshed (o pool, s name, s uuid) goes to `handler`.
    void setRefreshHandler(std::function<void(const RemoteStoragePool&)> handler) {
        m_onRefreshed = std::move(handler);
    }

    // Pool methods M(a{sv} options) -> (): Build, Start, Stop, Refresh, Delete, Undefine.
    void poolAction(const std::string& poolPath, const std::string& method, Done done);
    // Pool.CreateVolume -> the new volume's object path.
    void createVolume(const std::string& poolPath, const std::string& xml, Then<std::string> done);
    // Pool.CloneVolume, done when the job has completed.
    void cloneVolume(const std::string& poolPath, const std::string& sourcePath,
                     const std::string& xml, Done done);
    // Volume.Delete, Volume.Resize; Volume.Wipe, done when the job has completed.
    void deleteVolume(const std::string& path, Done done);
    void resizeVolume(const std::string& path, uint64_t capacity, bool shrink, Done done);
    void wipeVolume(const std::string& path, Done done);
    // Volume.Upload / Volume.Download with the bridge's file `fd` and `options` (Upload's
    // "offset"), done when the job has completed.
    void transfer(const std::string& path, const char* method, int fd, Options options, Done done);

private:
    // Calls a method answering with a Job's path and runs `done` once the job completed.
    void runJob(const std::string& path, const char* interface, const char* method,
                const ServiceClient::Fill& fill, Done done);
    void onJobCompleted(sdbus::Message& message);
    void failJobs();

    void onPoolRefreshed(sdbus::Message& message);

    std::map<std::string, Done> m_jobs; // by the job's object path
    std::function<void(const RemoteStoragePool&)> m_onRefreshed;
};

} // namespace virtswarm::bridge
