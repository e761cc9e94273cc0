// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/method_gate.hpp"
#include "virtswarm/snapshot_def.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <virtswarm/gen/org.virtswarm.Hypervisor1.Snapshot_adaptor.h>

namespace virtswarm::hypervisor {

class DomainObject;
class Registry;

// <domain object path>/snapshot/<escaped name>.
std::string snapshotObjectPath(const std::string& domainPath, const std::string& name);

// One snapshot of a domain on the bus. What it is lives in the domain's SnapshotSet; the
// operations are the domain's (they change the domain), so this object authorizes with
// the domain's polkit details and hands them over.
class SnapshotObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Hypervisor1::Snapshot_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    SnapshotObject(Registry& registry, DomainObject& domain, std::string name);
    ~SnapshotObject();

    const std::string& name() const { return m_name; }
    const std::string& path() const { return m_path; }
    // The parent or current flag changed in the domain's set.
    void announce(const std::vector<std::string>& properties) {
        emitPropertiesChangedSignal(Snapshot_adaptor::INTERFACE_NAME, properties);
    }

private:
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void Revert(sdbus::Result<>&& result, Options options) override;
    void Delete(sdbus::Result<>&& result, Options options) override;
    std::string Name() override { return m_name; }
    sdbus::ObjectPath Domain() override;
    std::string Parent() override;
    std::string State() override;
    std::string Memory() override;
    int64_t CreationTime() override;
    bool Current() override;
    // The snapshot's metadata (it exists while this object does).
    const SnapshotDef& def() const;

    Registry& m_registry;
    DomainObject& m_domain;
    std::string m_name;
    std::string m_path;
    service::MethodGate m_gate;
};

} // namespace virtswarm::hypervisor
