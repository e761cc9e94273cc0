// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "machine.hpp"
#include "virtswarm/dbus_edge.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Shim1.Machine_adaptor.h>

namespace virtswarm::shim {

// org.virtswarm.Shim1.Machine at /org/virtswarm/Shim1: the registry's handle on this VM.
// The bus policy lets only the registry's user call it, so no polkit here: the registry
// authorized the client already.
class MachineObject final : public sdbus::AdaptorInterfaces<org::virtswarm::Shim1::Machine_adaptor,
                                                            sdbus::Properties_adaptor> {
public:
    MachineObject(sdbus::IConnection& connection, Machine& machine);
    ~MachineObject();

    void announceState();
    void announceReboot() { emitRebooted(); }
    void announceDeviceRemoved(const std::string& alias) { emitDeviceRemoved(alias); }

private:
    void Shutdown(sdbus::Result<>&& result, Options options) override;
    void Destroy(sdbus::Result<>&& result, Options options) override;
    std::string GetXML(const Options& options) override;
    void Reboot(sdbus::Result<>&& result, Options options) override;
    void Reset(sdbus::Result<>&& result, Options options) override;
    void Suspend(sdbus::Result<>&& result, Options options) override;
    void Resume(sdbus::Result<>&& result, Options options) override;
    void ManagedSave(sdbus::Result<Options>&& result, sdbus::UnixFd file, Options options) override;
    void GetStats(sdbus::Result<Options>&& result, Options options) override;
    void GetJobInfo(sdbus::Result<Options>&& result, Options options) override;
    void AbortJob(sdbus::Result<>&& result, Options options) override;
    void GetTime(sdbus::Result<sdbus::Struct<int64_t, uint32_t>>&& result,
                 Options options) override;
    void SetTime(sdbus::Result<>&& result, int64_t seconds, uint32_t nseconds,
                 Options options) override;
    void GetHostname(sdbus::Result<std::string>&& result, Options options) override;
    void InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                            Options options) override;
    void AddGraphicsClient(sdbus::Result<>&& result, uint32_t index, sdbus::UnixFd socket,
                           Options options) override;
    void OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                     Options options) override;
    void AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void UpdateDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void SetMemory(sdbus::Result<>&& result, uint64_t kib, Options options) override;
    void SetVcpus(sdbus::Result<>&& result, uint32_t count, Options options) override;
    void SnapshotSave(sdbus::Result<>&& result, std::string name, Options options) override;
    void SnapshotDelete(sdbus::Result<>&& result, std::string name, Options options) override;
    void SnapshotDisks(sdbus::Result<>&& result,
                       std::vector<sdbus::Struct<std::string, std::string>> overlays,
                       Options options) override;
    void SendKey(sdbus::Result<>&& result, std::vector<uint32_t> qnums, uint32_t holdtime,
                 Options options) override;
    void InjectNMI(sdbus::Result<>&& result, Options options) override;
    void SetMetadata(sdbus::Result<>&& result, std::string type, std::string metadata,
                     std::string key, std::string uri, Options options) override;

    // Runs `action` with a completion that answers `result`, after checking that no
    // options were given.
    void run(sdbus::Result<>&& result, const Options& options,
             std::function<void(Machine::Done)> action);
    // Options checked, then `query`'s typed values (or its error) as the a{sv} answer.
    void answerValues(sdbus::Result<Options>&& result, const Options& options,
                      std::function<void(Machine::ValuesDone)> query);
    std::string UUID() override { return formatUuid(m_machine.domain().def.uuid); }
    std::string State() override { return m_machine.state(); }
    std::string StateReason() override { return m_machine.reason(); }
    uint32_t Pid() override { return static_cast<uint32_t>(m_machine.pid()); }

    Machine& m_machine;
};

} // namespace virtswarm::shim
