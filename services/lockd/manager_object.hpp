// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "lock_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <functional>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Lock1.Manager_adaptor.h>

namespace virtswarm::lock {

// /org/virtswarm/Lock1: the lease table on the bus. Every method is one gate call:
// arguments (descriptors turned into file keys at once), polkit with the domain's UUID,
// then the service.
class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Lock1::Manager_adaptor> {
public:
    using Disk = sdbus::Struct<sdbus::UnixFd, std::string, bool>;
    using LeaseRow = sdbus::Struct<std::string, std::string, std::string, std::string, std::string>;

    // `reexec` runs once Reexec has been answered.
    ManagerObject(LockService& service, std::function<void()> reexec);
    ~ManagerObject();

private:
    void Acquire(sdbus::Result<>&& result, std::string domainUuid, std::vector<Disk> disks,
                 Options options) override;
    void SetProcess(sdbus::Result<>&& result, std::string domainUuid, sdbus::UnixFd pidfd,
                    Options options) override;
    void Release(sdbus::Result<>&& result, std::string domainUuid, std::vector<std::string> paths,
                 Options options) override;
    void ListLeases(sdbus::Result<std::vector<LeaseRow>>&& result, Options options) override;
    void Reexec(sdbus::Result<>&& result, Options options) override;
    std::string Version() override;

    LockService& m_service;
    std::function<void()> m_reexec;
    service::MethodGate m_gate;
};

} // namespace virtswarm::lock
