// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "pool_backend.hpp"

namespace virtswarm::storage {

// logical pools: an LVM volume group; each volume a logical volume (raw only), at
// /dev/<vg>/<name>. Build runs pvcreate and vgcreate on the source devices.
class LogicalPool : public PoolBackend {
public:
    LogicalPool(EventLoop& loop, PoolDef def)
        : m_loop(loop)
        , m_def(std::move(def)) {}

    void build(Done done) override;
    void start(Done done) override;
    void stop(Done done) override;
    void deleteStorage(Done done) override;
    void refresh(bool removePartial, std::function<void(Result<PoolContents>)> done) override;

    std::string volumePath(const std::string& name) const override;
    bool fileVolumes() const override { return false; }
    void prepareVolume(const VolumeDef& def,
                       std::function<void(Result<std::string>)> done) override;
    void commitVolume(const std::string& name, Done done) override;
    void discardVolume(const std::string& name, Done done) override;
    void deleteVolume(const std::string& name, Done done) override;
    void resizeVolume(const VolumeInfo& volume, uint64_t capacity, Done done) override;

    // The tag an unfinished logical volume carries until its job commits it.
    static constexpr const char* kPartialTag = "virtswarm_partial";

private:
    std::string lv(const std::string& name) const { return m_def.sourceName + "/" + name; }

    EventLoop& m_loop;
    PoolDef m_def;
};

} // namespace virtswarm::storage
