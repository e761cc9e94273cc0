// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "pool.hpp"
#include "storage_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Storage1.Pool_adaptor.h>

namespace virtswarm::storage {

class VolumeObject;

// One storage pool on the bus: the Pool model behind org.virtswarm.Storage1.Pool, and the
// volume objects below it, kept in step with the model's volume list.
class PoolObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Storage1::Pool_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    PoolObject(StorageService& service, const std::string& path, PoolXml definition,
               bool persistent);
    ~PoolObject();

    Pool& pool() { return m_pool; }
    const PoolDef& def() const { return m_pool.def(); }
    bool persistent() const { return m_persistent; }
    void makePersistent();
    bool autostart() const { return m_autostart; }
    void setAutostartFlag(bool autostart);
    PolkitDetails details() const;
    PolkitDetails volumeDetails(const std::string& volume) const;
    VolumeObject* volumeObject(const std::string& name) const;
    const std::map<std::string, std::unique_ptr<VolumeObject>>& volumeObjects() const {
        return m_volumeObjects;
    }

    // Start and Stop as the daemon does them at start-up (no caller, no polkit).
    void start(std::function<void(Result<void>)> done);

private:
    void Build(sdbus::Result<>&& result, Options options) override;
    void Start(sdbus::Result<>&& result, Options options) override;
    void Stop(sdbus::Result<>&& result, Options options) override;
    void Refresh(sdbus::Result<>&& result, Options options) override;
    void Delete(sdbus::Result<>&& result, Options options) override;
    void Undefine(sdbus::Result<>&& result, Options options) override;
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) override;
    void CreateVolume(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                      Options options) override;
    void CloneVolume(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::ObjectPath source,
                     std::string xml, Options options) override;
    std::string Name() override { return def().name; }
    std::string UUID() override { return formatUuid(def().uuid); }
    std::string Type() override { return std::string(poolTypeName(def().type)); }
    uint32_t State() override { return static_cast<uint32_t>(m_pool.state()); }
    bool Active() override { return m_pool.active(); }
    bool Persistent() override { return m_persistent; }
    bool Autostart() override { return m_autostart; }
    std::string Path() override { return def().targetPath; }
    uint64_t Capacity() override { return m_pool.sizes().capacity; }
    uint64_t Allocation() override { return m_pool.sizes().allocation; }
    uint64_t Available() override { return m_pool.sizes().available; }

    // The model changed: properties, and volume objects added or removed.
    void sync();
    // polkit for the caller with explicit details (a volume not on the bus yet).
    void authorizeWith(const char* actionId, PolkitDetails details,
                       std::function<void(Result<void>)> then);

    StorageService& m_service;
    Pool m_pool;
    bool m_persistent;
    bool m_autostart = false;
    std::map<std::string, std::unique_ptr<VolumeObject>> m_volumeObjects;
    service::MethodGate m_gate;
    Lifetime m_lifetime;
};

} // namespace virtswarm::storage
