// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"
#include "virtswarm/storage_def.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace virtswarm::storage {

struct PoolContents {
    PoolSizes sizes;
    std::vector<VolumeInfo> volumes;
};

// What differs between pool types: how the storage is made, brought up and taken down,
// and where a volume's bytes live. Everything is asynchronous: the helper programs run as
// child processes watched by the loop.
//
// A new volume is written under a partial name first (a hidden file, or a logical volume
// tagged partial) and becomes the volume only on commit, so an interrupted job (a cancel,
// a failure, storaged killed) never leaves something that looks like a finished volume.
// Partial volumes are removed by the first refresh after the pool starts.
class PoolBackend {
public:
    using Done = std::function<void(Result<void>)>;

    virtual ~PoolBackend() = default;

    // Build: make the storage (directory; file system; volume group). Delete undoes it.
    virtual void build(Done done) = 0;
    virtual void start(Done done) = 0;
    virtual void stop(Done done) = 0;
    virtual void deleteStorage(Done done) = 0;
    virtual void refresh(bool removePartial, std::function<void(Result<PoolContents>)> done) = 0;

    virtual std::string volumePath(const std::string& name) const = 0;
    // Volumes are files that qemu-img creates itself (true) or block devices made first
    // and written in place (false: only raw then).
    virtual bool fileVolumes() const = 0;
    // Makes room for a new volume; answers the path to write.
    virtual void prepareVolume(const VolumeDef& def,
                               std::function<void(Result<std::string>)> done) = 0;
    virtual void commitVolume(const std::string& name, Done done) = 0;
    virtual void discardVolume(const std::string& name, Done done) = 0;
    virtual void deleteVolume(const std::string& name, Done done) = 0;
    virtual void resizeVolume(const VolumeInfo& volume, uint64_t capacity, Done done) = 0;
};

std::unique_ptr<PoolBackend> makePoolBackend(EventLoop& loop, const PoolDef& def);

} // namespace virtswarm::storage
