// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "storage_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Storage1.Volume_adaptor.h>

namespace virtswarm::storage {

class PoolObject;

// One volume of a running pool: /org/virtswarm/Storage1/pool/_<uuid>/volume/<escaped name>.
// It lives as long as the pool's model lists the volume (PoolObject::sync).
class VolumeObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Storage1::Volume_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    VolumeObject(StorageService& service, PoolObject& pool, VolumeInfo info);
    ~VolumeObject();

    const std::string& name() const { return m_info.name; }
    const VolumeInfo& info() const { return m_info; }
    const std::string& path() const { return m_path; }
    PoolObject& pool() { return m_poolObject; }
    // New sizes or format after a refresh: PropertiesChanged for what differs.
    void update(const VolumeInfo& info);

private:
    void Delete(sdbus::Result<>&& result, Options options) override;
    void Wipe(sdbus::Result<sdbus::ObjectPath>&& result, Options options) override;
    void Resize(sdbus::Result<>&& result, uint64_t capacity, Options options) override;
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void Upload(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                Options options) override;
    void Download(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                  Options options) override;
    // InvalidState while a VM holds the volume (VolumeHolders).
    Result<void> notInUse() const;
    // Upload and Download: polkit, then the pool's job, published.
    void transfer(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                  const Options& options, const actions::MethodAction& action, bool upload);
    std::string Name() override { return m_info.name; }
    std::string Path() override { return m_info.path; }
    sdbus::ObjectPath Pool() override;
    std::string Format() override { return std::string(volumeFormatName(m_info.format)); }
    uint64_t Capacity() override { return m_info.capacity; }
    uint64_t Allocation() override { return m_info.allocation; }
    std::string BackingPath() override { return m_info.backingPath; }

    StorageService& m_service;
    PoolObject& m_poolObject;
    VolumeInfo m_info;
    std::string m_path;
    service::MethodGate m_gate;
};

std::string volumeObjectPath(const std::string& poolPath, const std::string& volumeName);

} // namespace virtswarm::storage
