// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "pool_backend.hpp"

#include <map>
#include <sys/types.h>

namespace virtswarm::storage {

// dir and fs pools: volumes are image files in one directory. An fs pool is a dir pool on
// a file system it mounts there (Build runs mkfs on the device or image file).
class FilePool : public PoolBackend {
public:
    FilePool(EventLoop& loop, PoolDef def)
        : m_loop(loop)
        , m_def(std::move(def)) {}

    void build(Done done) override;
    void start(Done done) override;
    void stop(Done done) override;
    void deleteStorage(Done done) override;
    void refresh(bool removePartial, std::function<void(Result<PoolContents>)> done) override;

    std::string volumePath(const std::string& name) const override;
    bool fileVolumes() const override { return true; }
    void prepareVolume(const VolumeDef& def,
                       std::function<void(Result<std::string>)> done) override;
    void commitVolume(const std::string& name, Done done) override;
    void discardVolume(const std::string& name, Done done) override;
    void deleteVolume(const std::string& name, Done done) override;
    void resizeVolume(const VolumeInfo& volume, uint64_t capacity, Done done) override;

    // The name a volume is written under until it is complete.
    static std::string partialName(const std::string& name) { return ".partial-" + name; }

private:
    bool mounted() const;
    void answer(Done done, Result<void> result);

    // What a refresh read of a file, kept while its inode, mtime and size stay the same.
    struct KnownImage {
        ino_t inode;
        int64_t mtimeNs;
        off_t size;
        VolumeInfo info;
    };
    // The volume from the cache or its header; false when qemu-img must read it.
    bool fromHeader(VolumeInfo& volume);

    EventLoop& m_loop;
    PoolDef m_def;
    std::map<std::string, KnownImage> m_known; // by path
};

} // namespace virtswarm::storage
