// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "shim_control.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/retry_budget.hpp"
#include "virtswarm/uuid.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// What the model tells the one that holds it (the bus object in the daemon, a recorder in
// the unit tests), and the runtime ids it draws.
class DomainModelHost {
public:
    virtual ~DomainModelHost() = default;
    // Properties of the Domain interface whose values changed.
    virtual void propertiesChanged(const std::vector<std::string>& names) = 0;
    // The domain moved to another state (the StateChanged signal).
    virtual void stateChanged(StateAndReason now) = 0;
    virtual void lifecycleEvent(LifecycleEvent event) = 0;
    // Nothing keeps the domain any more (transient and stopped): it goes.
    virtual void released() = 0;
    // A new runtime id, recorded for the domain.
    virtual int assignId() = 0;
    // The id recorded for a running domain being adopted (a new one if there is none).
    virtual int recoverId() = 0;
};

struct DomainModelConfig {
    // How long start() waits for the shim to report the domain running.
    std::chrono::milliseconds startTimeout{60000};
    // How long any call to a shim may take.
    std::chrono::milliseconds shimCallTimeout{5000};
    // Where managed save images live ("<dir>/<uuid hex>.save").
    std::string saveDir;
};

// How a start begins. By default the guest boots, or resumes from its managed save image.
struct StartOptions {
    // >= 0: QEMU's stream of a saved guest (a `virsh save` file the caller opened and read
    // the header of): the guest continues from it. Taken over by start().
    int imageFd = -1;
    // The guest's vCPUs stay stopped once it is up (virsh start --paused, a restore of a
    // guest saved paused).
    bool paused = false;
    // Non-empty: the guest starts from this internal snapshot (a revert to a snapshot
    // taken while it ran).
    std::string loadSnapshot = {};
    // The start is a snapshot revert's (from its memory, or a boot of the disks it put
    // back): its events say so.
    bool fromSnapshot = false;
};

// One domain as the registry knows it: its definition (and the one waiting for its next
// start), whether it persists, its run state as its shim reports it, and what happens
// when it starts, stops, loses its shim or is found running after a registry restart.
// No bus and no polkit here: the shims are reached through ShimControl, and everything
// the bus shows is told to the DomainModelHost.
class DomainModel {
public:
    DomainModel(DomainModelHost& host, ShimControl& shims, EventLoop& loop,
                DomainModelConfig config, DomainXml domain, bool persistent);
    ~DomainModel();
    DomainModel(const DomainModel&) = delete;
    DomainModel& operator=(const DomainModel&) = delete;

    const DomainXml& domain() const { return m_domain; }
    const DomainDef& def() const { return m_domain.def; }
    // The definition the next start uses (a redefinition made while running, if any).
    const DomainXml& nextDomain() const { return m_nextDefinition ? *m_nextDefinition : m_domain; }
    std::string uuidHex() const { return virtswarm::uuidHex(m_domain.def.uuid); }
    bool persistent() const { return m_persistent; }
    bool autostart() const { return m_autostart; }
    DomainState state() const { return m_state; }
    DomainReason reason() const { return m_reason; }
    int id() const { return m_id; }
    bool active() const { return isActive(m_state); }
    bool starting() const { return m_starting; }
    bool hasManagedSave() const;
    std::string managedSavePath() const;

    // A new definition for the same domain. While the domain runs (or starts), the new
    // definition applies from its next start.
    void redefine(DomainXml domain);
    // The running definition after a live change its shim made (vCPU hotplug), which
    // the domain's properties and queries then report until it stops. Ignored when the
    // domain is not running.
    void liveChanged(DomainXml live);
    void setAutostartFlag(bool autostart) { m_autostart = autostart; }
    void setAutostart(bool autostart);
    void setPersistent(bool persistent);

    // Launches the shim; `done` runs when the domain is running (paused, if asked) or the
    // start failed.
    void start(std::function<void(Result<void>)> done, StartOptions options = {});
    // The next run uses `domain` (a saved image's definition) instead of the stored one,
    // which applies again once the domain stops. Only while the domain is shut off.
    void runOnceWith(DomainXml domain);
    // Stops QEMU now: through the shim, or directly when no shim is left. `why` is the
    // shut-off reason (FromSnapshot: a revert stops it, with no shutdown event).
    void destroy(std::function<void(Result<void>)> done,
                 DomainReason why = DomainReason::Destroyed);
    // The stored definition is gone: as in libvirt, a running domain stays up as a
    // transient one; a stopped one is released.
    void undefined();
    // The domain is going away: a start still waiting fails with NoSuchDomain.
    void abandonStart();
    // Removes the managed save image, if any.
    Result<void> removeManagedSave();

    // From the shim supervisor.
    void onShimState(StateAndReason reported);
    void onShimGone(std::optional<Error> failure);
    // A shim found on the bus after a registry restart.
    void adoptRunning(StateAndReason reported);
    // A QEMU found running without any shim: start one that takes it over.
    void reattach();

private:
    void setState(DomainState state, DomainReason reason);
    // As above, announcing `events` instead of the transition's own.
    void setState(DomainState state, DomainReason reason,
                  const std::vector<LifecycleEvent>& events);
    void finishStart(Result<void> outcome);
    // The shim reported the guest up (running, or paused as the start asked).
    void startReached(StateAndReason reported);
    void launchShim();
    // A new shim for the QEMU of a running domain whose shim died: with backoff, and at
    // most a few times a minute; then the domain is left `crashed`/`shim-failing`.
    void relaunchShim();
    // Destroy when no shim is left to ask: kills QEMU through its recorded pid.
    void destroyWithoutShim(std::function<void(Result<void>)> done, DomainReason why);
    void becameInactive();
    // The definition waiting for the domain to stop becomes its own.
    void applyNextDefinition();
    // Managed save (domain_model_save.cpp): the image for the shim to start from, or -1
    // to boot afresh.
    int openManagedSaveForRestore();
    // The image's definition and was-running flag apply to this start; `fd` is left where
    // QEMU's stream begins.
    Result<void> useSavedDefinition(int fd);
    // `domain` runs this once; the stored definition applies again when it stops.
    void swapInForOneRun(DomainXml domain);
    // The start that restored an image ended; a running guest no longer needs the image.
    void restoreFinished(bool running);

    DomainModelHost& m_host;
    ShimControl& m_shims;
    EventLoop& m_loop;
    DomainModelConfig m_config;
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
    bool m_restoring = false;      // this start restores the managed save image
    StartOptions m_startOptions;   // of the start in progress (its image until launched)
    bool m_restoringImage = false; // this start continues a saved image given to start()
    // A destroy that stops the domain for another reason than Destroyed (a revert's).
    std::optional<DomainReason> m_stoppingAs;
    std::function<void(Result<void>)> m_startDone;
    EventSource m_startTimer;
    RetryBudget m_shimRelaunches;
    EventSource m_relaunchTimer;
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
