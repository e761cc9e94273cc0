// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "job.hpp"
#include "pool_backend.hpp"
#include "virtswarm/lifetime.hpp"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace virtswarm::storage {

// libvirt's virStoragePoolState numbers.
enum class PoolState { Inactive = 0, Building = 1, Running = 2 };

std::string_view poolStateName(PoolState state);

// One storage pool: its definition, its state, and its volumes as last refreshed. The
// model behind the D-Bus Pool and Volume objects; it knows nothing of the bus. Every
// operation checks the state first and changes nothing when it refuses.
class Pool {
public:
    using Done = std::function<void(Result<void>)>;

    Pool(EventLoop& loop, PoolXml definition);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    const PoolDef& def() const { return m_definition.def; }
    const std::string& xml() const { return m_definition.xml; }
    // The definition with the sizes of a running pool, as pool-dumpxml shows it.
    std::string liveXml() const;
    PoolState state() const { return m_state; }
    bool active() const { return m_state == PoolState::Running; }
    const PoolSizes& sizes() const { return m_sizes; }
    const std::map<std::string, VolumeInfo>& volumes() const { return m_volumes; }
    const VolumeInfo* volume(const std::string& name) const;
    // Jobs that write a volume of this pool or read one.
    bool busy() const { return !m_busyVolumes.empty() || m_operationRunning; }

    void build(Done done);
    // Starts the pool and refreshes it; partial volumes of interrupted jobs are removed.
    void start(Done done);
    void stop(Done done);
    void deleteStorage(Done done);
    void refresh(Done done);

    // The volume is in the pool (refreshed) when `done` runs.
    void createVolume(const VolumeDef& def, Done done);
    // Errors: NoSuchVolume, VolumeExists, InvalidState (pool not running, volume busy).
    Result<std::shared_ptr<Job>> cloneVolume(Pool& sourcePool, const std::string& sourceName,
                                             const VolumeDef& def);
    Result<std::shared_ptr<Job>> wipeVolume(const std::string& name);
    // `fd`: a client's regular file (checkTransferFd); the pool keeps its own duplicate
    // until the job ends. An upload replaces the volume's content, or with `at` is written
    // into it from that offset (the rest kept).
    Result<std::shared_ptr<Job>> uploadVolume(const std::string& name, int fd,
                                              std::optional<uint64_t> at = std::nullopt);
    Result<std::shared_ptr<Job>> downloadVolume(const std::string& name, int fd);
    void deleteVolume(const std::string& name, Done done);
    // Shrinking needs allowShrink, as libvirt's VIR_STORAGE_VOL_RESIZE_SHRINK.
    void resizeVolume(const std::string& name, uint64_t capacity, bool allowShrink, Done done);

    // Called after any change of state, sizes or volumes (the bus object emits
    // PropertiesChanged and InterfacesAdded/Removed from it).
    std::function<void()> onChanged;

private:
    Result<void> checkRunning() const;
    Result<void> checkNewVolume(const VolumeDef& def) const;
    Result<const VolumeInfo*> idleVolume(const std::string& name) const;
    Result<void> checkInactive() const;
    // One operation on the pool's storage at a time: refused unless `allowed`; `work` runs
    // it; `then` (only while the pool exists) settles the pool's state and ends it.
    Result<void> beginOperation();
    void storageOperation(Result<void> allowed, const std::function<void(Done)>& work,
                          std::function<void(Result<void>, const Done&)> then, Done done);
    // The volume list and sizes from the storage; `removePartial` only right after start.
    void reload(bool removePartial, Done done);
    // Starts `work` as a job on the volume marked busy; the job completes after the pool
    // re-read its volumes.
    using JobWork = std::function<void(const VolumeInfo&, const std::shared_ptr<Job>&, Done)>;
    Result<std::shared_ptr<Job>> volumeJob(const std::string& name, const char* operation,
                                           uint64_t total, const JobWork& work);
    // Runs `work` with the volume marked busy, then re-reads the pool.
    void volumeOperation(const std::string& name, const std::function<void(Done)>& work, Done done);
    // Completes a job after the pool has re-read its volumes, so a client told the job
    // succeeded finds the new volume.
    void finishJob(const std::shared_ptr<Job>& job, Result<void> result,
                   std::vector<std::string> busyNames, Pool* otherPool);
    void changed();

    EventLoop& m_loop;
    PoolXml m_definition;
    std::unique_ptr<PoolBackend> m_backend;
    PoolState m_state = PoolState::Inactive;
    PoolSizes m_sizes;
    std::map<std::string, VolumeInfo> m_volumes;
    std::multiset<std::string> m_busyVolumes;
    bool m_operationRunning = false;
    Lifetime m_lifetime;
};

} // namespace virtswarm::storage
