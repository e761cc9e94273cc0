// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pool.hpp"

#include "volume_work.hpp"

#include <sdbus-c++/Types.h>
#include <sys/stat.h>

namespace virtswarm::storage {

std::string_view poolStateName(PoolState state) {
    switch (state) {
    case PoolState::Inactive:
        return "inactive";
    case PoolState::Building:
        return "building";
    case PoolState::Running:
        return "running";
    }
    return "inactive";
}

Pool::Pool(EventLoop& loop, PoolXml definition)
    : m_loop(loop)
    , m_definition(std::move(definition))
    , m_backend(makePoolBackend(loop, m_definition.def)) {}

std::string Pool::liveXml() const {
    auto xml = poolXmlWithSizes(m_definition.xml, active() ? m_sizes : PoolSizes{});
    return xml ? xml.value() : m_definition.xml;
}

const VolumeInfo* Pool::volume(const std::string& name) const {
    auto it = m_volumes.find(name);
    return it == m_volumes.end() ? nullptr : &it->second;
}

void Pool::changed() {
    if (onChanged) {
        onChanged();
    }
}

Result<void> Pool::checkRunning() const {
    if (!active()) {
        return Error(Code::InvalidState,
                     "storage pool '" + m_definition.def.name + "' is not active");
    }
    return success();
}

Result<void> Pool::beginOperation() {
    if (m_operationRunning) {
        return Error(Code::InvalidState,
                     "storage pool '" + m_definition.def.name + "' has an operation in progress");
    }
    m_operationRunning = true;
    return success();
}

void Pool::storageOperation(Result<void> allowed, const std::function<void(Done)>& work,
                            std::function<void(Result<void>, const Done&)> then, Done done) {
    if (!allowed) {
        done(allowed);
        return;
    }
    if (auto r = beginOperation(); !r) {
        done(r);
        return;
    }
    auto guard = m_lifetime.guard();
    work([this, guard, then = std::move(then), done](Result<void> r) {
        if (!guard.alive()) {
            return;
        }
        then(std::move(r), [this, done](Result<void> outcome) {
            m_operationRunning = false;
            changed();
            done(outcome);
        });
    });
}

Result<void> Pool::checkInactive() const {
    if (active()) {
        return Error(Code::InvalidState, "storage pool '" + m_definition.def.name + "' is active");
    }
    return success();
}

void Pool::reload(bool removePartial, Done done) {
    auto guard = m_lifetime.guard();
    m_backend->refresh(removePartial, [this, guard, done](Result<PoolContents> contents) {
        if (!guard.alive()) {
            return;
        }
        if (!contents) {
            done(contents.takeError());
            return;
        }
        m_sizes = contents.value().sizes;
        m_volumes.clear();
        for (auto& v : contents.value().volumes) {
            std::string name = v.name;
            m_volumes.emplace(std::move(name), std::move(v));
        }
        changed();
        done(success());
    });
}

void Pool::build(Done done) {
    storageOperation(
        checkInactive(),
        [this](Done finished) {
            m_state = PoolState::Building;
            changed();
            m_backend->build(finished);
        },
        [this](Result<void> r, const Done& end) {
            m_state = PoolState::Inactive;
            end(r);
        },
        std::move(done));
}

void Pool::start(Done done) {
    storageOperation(
        checkInactive(), [this](Done finished) { m_backend->start(finished); },
        [this](Result<void> r, const Done& end) {
            if (!r) {
                end(r);
                return;
            }
            reload(true, [this, end](Result<void> loaded) {
                if (!loaded) {
                    // Up but unreadable: take it down again rather than show a pool with
                    // no volumes that has some.
                    m_backend->stop([](Result<void>) {});
                    end(loaded);
                    return;
                }
                m_state = PoolState::Running;
                end(success());
            });
        },
        std::move(done));
}

void Pool::stop(Done done) {
    Result<void> allowed = checkRunning();
    if (allowed && busy()) {
        allowed = Error(Code::InvalidState,
                        "storage pool '" + m_definition.def.name + "' has jobs running");
    }
    storageOperation(
        std::move(allowed), [this](Done finished) { m_backend->stop(finished); },
        [this](Result<void> r, const Done& end) {
            if (r) {
                m_state = PoolState::Inactive;
                m_volumes.clear();
                m_sizes = {};
            }
            end(r);
        },
        std::move(done));
}

void Pool::deleteStorage(Done done) {
    storageOperation(
        checkInactive(), [this](Done finished) { m_backend->deleteStorage(finished); },
        [](Result<void> r, const Done& end) { end(r); }, std::move(done));
}

void Pool::refresh(Done done) {
    if (auto r = checkRunning(); !r) {
        done(r);
        return;
    }
    reload(false, std::move(done));
}

Result<void> Pool::checkNewVolume(const VolumeDef& def) const {
    if (auto r = checkRunning(); !r) {
        return r;
    }
    if (m_volumes.count(def.name) != 0 || m_busyVolumes.count(def.name) != 0) {
        return Error(Code::VolumeExists, "storage volume '" + def.name + "' exists already");
    }
    if (def.allocation && *def.allocation > m_sizes.available) {
        return Error(Code::OperationFailed, "not enough space in storage pool '" +
                                                m_definition.def.name + "' for " +
                                                std::to_string(*def.allocation) + " bytes");
    }
    return success();
}

Result<const VolumeInfo*> Pool::idleVolume(const std::string& name) const {
    if (auto r = checkRunning(); !r) {
        return r.takeError();
    }
    const VolumeInfo* v = volume(name);
    if (v == nullptr) {
        return Error(Code::NoSuchVolume,
                     "no storage volume '" + name + "' in pool '" + m_definition.def.name + "'");
    }
    if (m_busyVolumes.count(name) != 0) {
        return Error(Code::InvalidState, "storage volume '" + name + "' has a job running");
    }
    return v;
}

void Pool::createVolume(const VolumeDef& def, Done done) {
    if (auto r = checkNewVolume(def); !r) {
        done(r);
        return;
    }
    // A backing store's size comes from resolveBackingStore, before.
    if (def.capacity == 0) {
        done(Error(Code::InvalidArgs, "a new volume needs a <capacity>"));
        return;
    }
    volumeOperation(
        def.name,
        [this, def](Done finished) { storage::createVolume(m_loop, *m_backend, def, finished); },
        std::move(done));
}

void Pool::finishJob(const std::shared_ptr<Job>& job, Result<void> result,
                     std::vector<std::string> busyNames, Pool* otherPool) {
    if (otherPool != nullptr && !busyNames.empty()) {
        otherPool->m_busyVolumes.erase(otherPool->m_busyVolumes.find(busyNames.back()));
        busyNames.pop_back();
    }
    for (const auto& name : busyNames) {
        m_busyVolumes.erase(m_busyVolumes.find(name));
    }
    reload(false, [job, result](Result<void>) { job->complete(result); });
}

Result<std::shared_ptr<Job>> Pool::cloneVolume(Pool& sourcePool, const std::string& sourceName,
                                               const VolumeDef& def) {
    auto source = sourcePool.idleVolume(sourceName);
    if (!source) {
        return source.takeError();
    }
    if (auto r = checkNewVolume(def); !r) {
        return r.takeError();
    }
    if (!m_backend->fileVolumes() && def.format != VolumeFormat::Raw) {
        return Error(Code::NotSupported, "volumes of a logical pool are raw");
    }
    VolumeInfo from = *source.value();
    VolumeDef target = def;
    if (target.capacity == 0) {
        target.capacity = from.capacity;
    }
    auto job =
        std::make_shared<Job>("clone", m_definition.def.name + "/" + def.name, from.capacity);
    m_busyVolumes.insert(def.name);
    sourcePool.m_busyVolumes.insert(sourceName);
    auto guard = m_lifetime.guard();
    auto sourceGuard = sourcePool.m_lifetime.guard();
    Pool* other = &sourcePool;
    storage::cloneVolume(
        m_loop, from, *m_backend, target, job,
        [this, guard, sourceGuard, job, other, name = def.name, sourceName](Result<void> r) {
            if (!guard.alive()) {
                job->complete(r);
                return;
            }
            finishJob(job, r, {name, sourceName}, sourceGuard.alive() ? other : nullptr);
        });
    return job;
}

Result<std::shared_ptr<Job>> Pool::volumeJob(const std::string& name, const char* operation,
                                             uint64_t total, const JobWork& work) {
    auto v = idleVolume(name);
    if (!v) {
        return v.takeError();
    }
    auto job = std::make_shared<Job>(operation, m_definition.def.name + "/" + name, total);
    m_busyVolumes.insert(name);
    auto guard = m_lifetime.guard();
    work(*v.value(), job, [this, guard, job, name](Result<void> r) {
        if (!guard.alive()) {
            job->complete(r);
            return;
        }
        finishJob(job, r, {name}, nullptr);
    });
    return job;
}

Result<std::shared_ptr<Job>> Pool::wipeVolume(const std::string& name) {
    const VolumeInfo* v = volume(name);
    return volumeJob(name, "wipe", v != nullptr ? v->capacity : 0,
                     [this](const VolumeInfo& info, const std::shared_ptr<Job>& job, Done done) {
                         storage::wipeVolume(m_loop, *m_backend, info, job, std::move(done));
                     });
}

Result<std::shared_ptr<Job>> Pool::uploadVolume(const std::string& name, int fd,
                                                std::optional<uint64_t> at) {
    auto size = checkTransferFd(fd, false);
    if (!size) {
        return size.takeError();
    }
    const VolumeInfo* v = volume(name);
    // A block volume cannot grow; a file volume written in place neither (libvirt's
    // "past the end" refusal), only one replaced whole may.
    bool fixedSize = !m_backend->fileVolumes() || at.has_value();
    uint64_t offset = at.value_or(0);
    if (v != nullptr && fixedSize &&
        (offset > v->capacity || size.value() > v->capacity - offset)) {
        return Error(Code::InvalidArgs, "the upload (" + std::to_string(size.value()) +
                                            " bytes at offset " + std::to_string(offset) +
                                            ") goes past the end of volume '" + name + "'");
    }
    // A duplicate of the client's fd lives as long as the job's work.
    auto owned = std::make_shared<sdbus::UnixFd>(fd);
    return volumeJob(
        name, "upload", size.value(),
        [this, owned, at](const VolumeInfo& info, const std::shared_ptr<Job>& job, Done done) {
            storage::uploadVolume(m_loop, *m_backend, info, owned->get(), at, job,
                                  [owned, done](Result<void> r) { done(r); });
        });
}

Result<std::shared_ptr<Job>> Pool::downloadVolume(const std::string& name, int fd) {
    if (auto r = checkTransferFd(fd, true); !r) {
        return r.takeError();
    }
    const VolumeInfo* v = volume(name);
    uint64_t total = 0;
    if (v != nullptr) {
        struct stat st {};
        total = ::stat(v->path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
                    ? static_cast<uint64_t>(st.st_size)
                    : v->capacity;
    }
    auto owned = std::make_shared<sdbus::UnixFd>(fd);
    return volumeJob(
        name, "download", total,
        [this, owned](const VolumeInfo& info, const std::shared_ptr<Job>& job, Done done) {
            storage::downloadVolume(m_loop, info, owned->get(), job,
                                    [owned, done](Result<void> r) { done(r); });
        });
}

void Pool::deleteVolume(const std::string& name, Done done) {
    if (auto v = idleVolume(name); !v) {
        done(v.takeError());
        return;
    }
    volumeOperation(
        name, [this, name](Done finished) { m_backend->deleteVolume(name, finished); },
        std::move(done));
}

void Pool::resizeVolume(const std::string& name, uint64_t capacity, bool allowShrink, Done done) {
    auto v = idleVolume(name);
    if (!v) {
        done(v.takeError());
        return;
    }
    const VolumeInfo& volume = *v.value();
    if (capacity < volume.capacity && !allowShrink) {
        done(Error(Code::InvalidArgs,
                   "shrinking storage volume '" + name + "' needs the shrink option"));
        return;
    }
    if (capacity > volume.capacity && m_backend->fileVolumes() == false &&
        capacity - volume.capacity > m_sizes.available) {
        done(Error(Code::OperationFailed, "not enough space in storage pool '" +
                                              m_definition.def.name + "' to grow '" + name + "'"));
        return;
    }
    volumeOperation(
        name,
        [this, volume = volume, capacity](Done finished) {
            m_backend->resizeVolume(volume, capacity, finished);
        },
        std::move(done));
}

void Pool::volumeOperation(const std::string& name, const std::function<void(Done)>& work,
                           Done done) {
    m_busyVolumes.insert(name);
    auto guard = m_lifetime.guard();
    work([this, guard, name, done](Result<void> r) {
        if (!guard.alive()) {
            return;
        }
        m_busyVolumes.erase(m_busyVolumes.find(name));
        if (!r) {
            done(r);
            return;
        }
        reload(false, [done](Result<void>) { done(success()); });
    });
}

} // namespace virtswarm::storage
