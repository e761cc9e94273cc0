// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/retry_budget.hpp"

#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Hypervisor1.Domain_adaptor.h>

namespace virtswarm::hypervisor {

class Registry;

// One domain on the bus: its definition, its run state as reported by its shim, and the
// Domain interface. Methods authorize with polkit first, then act; anything that needs
// the shim is an async call with a timeout, so no method ever blocks the registry.
class DomainObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Hypervisor1::Domain_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    DomainObject(Registry& registry, DomainXml domain, bool persistent);
    ~DomainObject();

    const DomainDef& def() const { return m_domain.def; }
    const std::string& xml() const { return m_domain.xml; }
    std::string uuidHex() const { return virtswarm::uuidHex(m_domain.def.uuid); }
    std::string uuidText() const { return formatUuid(m_domain.def.uuid); }
    bool persistent() const { return m_persistent; }
    bool autostart() const { return m_autostart; }
    Lifetime::Guard lifetimeGuard() const { return m_lifetime.guard(); }
    // Statistics from the shim, or just the state when it is not running or does not
    // answer within `timeout` ("unavailable" = true then).
    void collectStats(std::chrono::milliseconds timeout, std::function<void(Options)> done);
    bool active() const;
    int id() const { return m_id; }

    // A new definition for the same domain (DefineXML on an existing one). While the
    // domain runs, the new definition applies from its next start.
    void redefine(DomainXml domain);
    void setAutostartFlag(bool autostart) { m_autostart = autostart; }
    void makePersistent() { setPersistent(true); }

    // Launches the shim; `done` runs when the domain is running or the start failed.
    void start(std::function<void(Result<void>)> done);

    // From the shim supervisor.
    void onShimState(StateAndReason reported);
    void onShimGone(std::optional<Error> failure);
    // A shim found on the bus after a registry restart.
    void adoptRunning(StateAndReason reported);
    // A QEMU found running without any shim: start one that takes it over.
    void reattach();

private:
    // Domain interface
    void Start(sdbus::Result<>&& result, Options options) override;
    void Shutdown(sdbus::Result<>&& result, Options options) override;
    void Destroy(sdbus::Result<>&& result, Options options) override;
    void Undefine(sdbus::Result<>&& result, Options options) override;
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) override;
    void Reboot(sdbus::Result<>&& result, Options options) override;
    void Reset(sdbus::Result<>&& result, Options options) override;
    void Suspend(sdbus::Result<>&& result, Options options) override;
    void Resume(sdbus::Result<>&& result, Options options) override;
    void GetStats(sdbus::Result<Options>&& result, Options options) override;
    void InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                            Options options) override;
    void OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                     Options options) override;
    void AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void ManagedSave(sdbus::Result<>&& result, Options options) override;
    void ManagedSaveRemove(sdbus::Result<>&& result, Options options) override;
    bool HasManagedSave() override;
    std::string Name() override { return m_domain.def.name; }
    std::string UUID() override { return uuidText(); }
    int32_t Id() override { return m_id; }
    std::string State() override { return std::string(toString(m_state)); }
    std::string StateReason() override { return std::string(toString(m_reason)); }
    bool Persistent() override { return m_persistent; }
    bool Autostart() override { return m_autostart; }
    uint32_t Vcpus() override { return m_domain.def.vcpus; }
    uint64_t MemoryKiB() override { return m_domain.def.memoryKiB; }

    // Runs `action` once polkit allowed `actionId` for the caller of the current method.
    void authorize(const char* actionId, std::function<void(Result<void>)> then);
    // The same for a caller captured earlier (a second check, made from a callback when
    // the method call is no longer current).
    void authorize(const Caller& caller, const char* actionId,
                   std::function<void(Result<void>)> then);
    // Answers GetXML: the inactive, persistent or live definition, with the VNC password
    // only when `secure` (the caller holds read-secure).
    void replyXml(const std::shared_ptr<sdbus::Result<std::string>>& result, bool inactive,
                  bool secure);
    // Authorizes, checks the domain is in one of `states`, then forwards `method` (no
    // arguments but options) to the shim and answers with its outcome.
    void forwardToShim(sdbus::Result<>&& result, const Options& options, const char* actionId,
                       std::initializer_list<DomainState> states, const char* method);
    void changeDevice(sdbus::Result<>&& result, const std::string& xml, const Options& options,
                      bool attach);
    void setState(DomainState state, DomainReason reason);
    // The InvalidState error for a call the domain's current state does not allow.
    Error wrongState() const;
    void setPersistent(bool persistent);
    void finishStart(Result<void> outcome);
    void launchShim();
    // A new shim for the QEMU of a running domain whose shim died: with backoff, and at
    // most a few times a minute; then the domain is left `crashed`/`shim-failing`.
    void relaunchShim();
    // Destroy when no shim is left to ask: kills QEMU through its recorded pid.
    void destroyWithoutShim(std::function<void(Result<void>)> done);
    void becameInactive();
    // Managed save (domain_object_save.cpp).
    std::string managedSavePath() const;
    Result<void> removeManagedSave();
    // The image for the shim to start from, or -1 to boot afresh.
    int openManagedSaveForRestore();
    // The start that restored an image ended; a running guest no longer needs the image.
    void restoreFinished(bool running);

    Registry& m_registry;
    DomainXml m_domain;
    // A redefinition made while running, applied when the domain stops.
    std::optional<DomainXml> m_nextDefinition;
    bool m_persistent;
    bool m_autostart = false;
    DomainState m_state = DomainState::Shutoff;
    DomainReason m_reason = DomainReason::Unknown;
    int m_id = -1;
    bool m_starting = false;
    bool m_reattaching = false;
    bool m_launchWhenGone = false;
    bool m_restoring = false; // this start restores the managed save image
    std::function<void(Result<void>)> m_startDone;
    EventSource m_startTimer;
    RetryBudget m_shimRelaunches;
    EventSource m_relaunchTimer;
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
