// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "log_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <functional>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Log1.Manager_adaptor.h>

namespace virtswarm::log_daemon {

// /org/virtswarm/Log1: the streams and logs on the bus, each method one gate call
// (arguments, polkit with the domain's name and UUID, then the service).
class ManagerObject final : public sdbus::AdaptorInterfaces<org::virtswarm::Log1::Manager_adaptor> {
public:
    using StreamRow = sdbus::Struct<std::string, std::string, std::string, std::string, uint64_t>;

    // `reexec` runs once Reexec has been answered.
    ManagerObject(LogService& service, std::function<void()> reexec);
    ~ManagerObject();

private:
    void OpenStream(sdbus::Result<sdbus::UnixFd>&& result, std::string domainUuid,
                    std::string domainName, std::string stream, Options options) override;
    void AdoptStream(sdbus::Result<>&& result, std::string domainUuid, std::string domainName,
                     std::string stream, sdbus::UnixFd readEnd, Options options) override;
    void ReadLog(sdbus::Result<std::vector<uint8_t>, uint64_t>&& result, std::string domainUuid,
                 std::string stream, uint64_t offset, uint32_t max, Options options) override;
    void ListStreams(sdbus::Result<std::vector<StreamRow>>&& result, Options options) override;
    void Reexec(sdbus::Result<>&& result, Options options) override;
    std::string Version() override;

    LogService& m_service;
    std::function<void()> m_reexec;
    service::MethodGate m_gate;
};

} // namespace virtswarm::log_daemon
