// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_model.hpp"

#include "virtswarm/log.hpp"

#include <unistd.h>
#include <utility>

namespace virtswarm::hypervisor {

DomainModel::DomainModel(DomainModelHost& host, ShimControl& shims, EventLoop& loop,
                         DomainModelConfig config, DomainXml domain, bool persistent)
    : m_host(host)
    , m_shims(shims)
    , m_loop(loop)
    , m_config(std::move(config))
    , m_domain(std::move(domain))
    , m_persistent(persistent) {}

DomainModel::~DomainModel() {
    abandonStart();
}

void DomainModel::abandonStart() {
    if (m_startDone) {
        auto done = std::move(m_startDone);
        done(Error(Code::NoSuchDomain, "domain '" + m_domain.def.name + "' was removed"));
    }
}

void DomainModel::setState(DomainState state, DomainReason reason) {
    setState(state, reason, lifecycleEventsFor(state, reason));
}

void DomainModel::setState(DomainState state, DomainReason reason,
                           const std::vector<LifecycleEvent>& events) {
    if (state == m_state && reason == m_reason) {
        return;
    }
    bool wasActive = active();
    m_state = state;
    m_reason = reason;
    std::vector<std::string> changed{"State", "StateReason"};
    if (!active() && m_id != -1) {
        m_id = -1;
    }
    if (active() != wasActive) {
        changed.emplace_back("Id");
    }
    m_host.propertiesChanged(changed);
    m_host.stateChanged({m_state, m_reason});
    for (LifecycleEvent event : events) {
        m_host.lifecycleEvent(event);
    }
}

void DomainModel::setPersistent(bool persistent) {
    if (m_persistent != persistent) {
        m_persistent = persistent;
        m_host.propertiesChanged({"Persistent"});
    }
}

void DomainModel::setAutostart(bool autostart) {
    if (m_autostart != autostart) {
        m_autostart = autostart;
        m_host.propertiesChanged({"Autostart"});
    }
}

void DomainModel::redefine(DomainXml domain) {
    if (active() || m_starting) {
        m_nextDefinition = std::move(domain);
        return;
    }
    bool nameChanged = domain.def.name != m_domain.def.name;
    m_domain = std::move(domain);
    std::vector<std::string> changed{"Vcpus", "MemoryKiB", "CurrentVcpus", "CurrentMemoryKiB"};
    if (nameChanged) {
        changed.emplace_back("Name");
    }
    m_host.propertiesChanged(changed);
}

void DomainModel::liveChanged(DomainXml live) {
    if (!active()) {
        return;
    }
    m_domain = std::move(live);
    m_host.propertiesChanged({"Vcpus", "MemoryKiB", "CurrentVcpus", "CurrentMemoryKiB"});
}

void DomainModel::start(std::function<void(Result<void>)> done, StartOptions options) {
    if (active() || m_starting) {
        if (options.imageFd >= 0) {
            ::close(options.imageFd);
        }
        done(Error(Code::InvalidState, "domain '" + m_domain.def.name + "' is already running"));
        return;
    }
    m_starting = true;
    m_restoringImage = options.imageFd >= 0;
    m_startOptions = options;
    m_startDone = std::move(done);
    // The shim of the previous run may still be on its way out (it answers Destroy just
    // before it exits); the new one would find its bus name taken. Launch once it is gone.
    if (m_shims.present(uuidHex())) {
        m_launchWhenGone = true;
    } else {
        launchShim();
    }
    // The launch may have failed at once, and finished the start.
    if (!m_starting) {
        return;
    }
    auto guard = m_lifetime.guard();
    m_startTimer = m_loop.addTimer(m_config.startTimeout, [this, guard] {
        if (!guard.alive()) {
            return;
        }
        // Do not leave a half-started QEMU behind a failed Start.
        m_shims.callMethod(uuidHex(), "Destroy", m_config.shimCallTimeout, [](Result<void>) {});
        finishStart(Error(Code::Timeout,
                          "domain '" + m_domain.def.name + "' did not reach running in time"));
    });
}

void DomainModel::runOnceWith(DomainXml domain) {
    if (active() || m_starting) {
        return;
    }
    swapInForOneRun(std::move(domain));
}

void DomainModel::swapInForOneRun(DomainXml domain) {
    if (domain.xml == m_domain.xml) {
        return;
    }
    if (!m_nextDefinition) {
        m_nextDefinition = std::move(m_domain);
    }
    m_domain = std::move(domain);
    m_host.propertiesChanged({"Name", "Vcpus", "MemoryKiB", "CurrentVcpus", "CurrentMemoryKiB"});
}

void DomainModel::launchShim() {
    m_launchWhenGone = false;
    int restoreFd = std::exchange(m_startOptions.imageFd, -1);
    // A start from a snapshot has its state already; a managed save image is not for it.
    if (restoreFd < 0 && m_startOptions.loadSnapshot.empty()) {
        restoreFd = openManagedSaveForRestore();
    }
    auto launched = m_shims.launch(uuidHex(), m_domain,
                                   ShimLaunch{.attach = false,
                                              .restoreFd = restoreFd,
                                              .paused = m_startOptions.paused,
                                              .loadSnapshot = m_startOptions.loadSnapshot});
    if (restoreFd >= 0) {
        ::close(restoreFd); // the shim has its own copy
    }
    if (!launched) {
        finishStart(launched.takeError().prefix("cannot start domain '" + m_domain.def.name + "'"));
        // A definition for this run only (a saved image's) gives way to the stored one.
        applyNextDefinition();
    }
}

void DomainModel::finishStart(Result<void> outcome) {
    m_starting = false;
    if (m_startOptions.imageFd >= 0) { // never launched
        ::close(m_startOptions.imageFd);
    }
    m_startOptions = {};
    m_restoringImage = false;
    restoreFinished(outcome.ok());
    m_launchWhenGone = false;
    m_startTimer.reset();
    auto done = std::move(m_startDone);
    m_startDone = nullptr;
    if (done) {
        done(std::move(outcome));
    }
}

void DomainModel::startReached(StateAndReason reported) {
    m_id = m_host.assignId();
    StartKind kind = m_startOptions.fromSnapshot       ? StartKind::FromSnapshot
                     : m_restoring || m_restoringImage ? StartKind::Restore
                                                       : StartKind::Boot;
    setState(reported.state, reported.reason, startEventsFor(kind, reported));
    finishStart(success());
}

void DomainModel::reattach() {
    if (auto r = m_shims.launch(uuidHex(), m_domain, ShimLaunch{.attach = true}); !r) {
        log::error("cannot re-attach to '" + m_domain.def.name + "': " + r.error().message());
        return;
    }
    m_reattaching = true;
}

void DomainModel::onShimState(StateAndReason reported) {
    if (m_reattaching) {
        m_reattaching = false;
        adoptRunning(reported);
        return;
    }
    if (m_starting && (reported.state == DomainState::Running ||
                       (reported.state == DomainState::Paused && m_startOptions.paused))) {
        startReached(reported);
        return;
    }
    if (!m_starting && !active()) {
        return; // a late signal from a shim that already reported shutoff
    }
    if (m_stoppingAs) {
        // libvirt stops the domain for a revert without a shutdown event.
        if (reported.state == DomainState::Shutdown) {
            setState(reported.state, reported.reason, {});
            return;
        }
        if (reported.state == DomainState::Shutoff) {
            reported.reason = *std::exchange(m_stoppingAs, std::nullopt);
        }
    }
    setState(reported.state, reported.reason);
    if (!active()) {
        if (m_starting) {
            // The shim wrote why before it reported shutoff: QEMU's own message, a QMP
            // handshake that timed out, a TAP that was refused...
            Error why = m_shims.readFailure(uuidHex()).value_or(
                Error(Code::OperationFailed, "the domain stopped while starting"));
            finishStart(why.prefix("cannot start domain '" + m_domain.def.name + "'"));
        }
        becameInactive();
    }
}

void DomainModel::onShimGone(std::optional<Error> failure) {
    if (m_launchWhenGone) {
        launchShim();
        return;
    }
    if (m_reattaching) {
        m_reattaching = false;
        log::error("re-attaching to '" + m_domain.def.name + "' failed" +
                   (failure ? ": " + failure->message() : std::string()));
        return;
    }
    if (m_starting) {
        Error e = failure.value_or(Error(Code::OperationFailed, "the shim exited"));
        finishStart(e.prefix("cannot start domain '" + m_domain.def.name + "'"));
        becameInactive();
        return;
    }
    if (!active()) {
        return;
    }
    // The shim died under a running domain. Its QEMU does not depend on it: a new shim
    // takes the monitor over and the VM never notices.
    if (m_shims.qemuAlive(uuidHex())) {
        relaunchShim();
        return;
    }
    log::warning("domain '" + m_domain.def.name + "' lost its shim and its QEMU");
    setState(DomainState::Shutoff, DomainReason::Crashed);
    becameInactive();
}

void DomainModel::relaunchShim() {
    auto delay = m_shimRelaunches.next();
    if (!delay) {
        log::error("the shim of '" + m_domain.def.name +
                   "' keeps dying; not relaunching it (Destroy stops its QEMU)");
        // Nothing can manage the VM now but Destroy, which kills QEMU directly.
        setState(DomainState::Crashed, DomainReason::ShimFailing);
        return;
    }
    log::warning("shim of '" + m_domain.def.name + "' died; re-attaching a new one in " +
                 std::to_string(delay->count()) + " ms");
    auto guard = m_lifetime.guard();
    m_relaunchTimer = m_loop.addTimer(*delay, [this, guard] {
        if (!guard.alive()) {
            return;
        }
        m_relaunchTimer.reset();
        if (!m_shims.qemuAlive(uuidHex())) {
            log::warning("domain '" + m_domain.def.name + "' lost its shim and its QEMU");
            setState(DomainState::Shutoff, DomainReason::Crashed);
            m_shims.removeRuntimeDir(uuidHex());
            becameInactive();
            return;
        }
        if (auto r = m_shims.launch(uuidHex(), m_domain, ShimLaunch{.attach = true}); !r) {
            log::error("cannot re-attach to '" + m_domain.def.name + "': " + r.error().message());
            relaunchShim();
        }
    });
}

void DomainModel::destroy(std::function<void(Result<void>)> done, DomainReason why) {
    if (!active()) {
        done(m_starting
                 ? Error(Code::InvalidState, "domain '" + m_domain.def.name + "' is still starting")
                 : Error(Code::InvalidState, "domain '" + m_domain.def.name + "' is not running"));
        return;
    }
    if (!m_shims.present(uuidHex())) {
        destroyWithoutShim(std::move(done), why);
        return;
    }
    if (why != DomainReason::Destroyed) {
        m_stoppingAs = why;
    }
    // The shim answers once QEMU is gone, after its SIGTERM grace period. A shim on its
    // way out (another Destroy, or the guest's power-off, ended QEMU) may exit before it
    // reads this call: the bus answers NoReply. If the domain is off by then, the caller
    // lost the race, and hears what libvirt tells the loser: the domain is not running.
    auto guard = m_lifetime.guard();
    m_shims.callMethod(uuidHex(), "Destroy", m_config.shimCallTimeout + std::chrono::seconds(15),
                       [this, guard, done = std::move(done)](Result<void> r) {
                           // A stop that did not happen leaves no reason for a later one.
                           if (!r && guard.alive() && active()) {
                               m_stoppingAs.reset();
                           }
                           bool shimLeft = !r && (r.error().code() == Code::Timeout ||
                                                  r.error().code() == Code::HypervisorGone);
                           if (shimLeft && guard.alive() && !active()) {
                               done(Error(Code::InvalidState,
                                          "domain '" + m_domain.def.name + "' is not running"));
                               return;
                           }
                           done(std::move(r));
                       });
}

void DomainModel::destroyWithoutShim(std::function<void(Result<void>)> done, DomainReason why) {
    m_relaunchTimer.reset();
    auto guard = m_lifetime.guard();
    auto stopped = [this, guard, done, why] {
        if (guard.alive()) {
            setState(DomainState::Shutoff, why);
            m_shims.removeRuntimeDir(uuidHex());
            becameInactive();
        }
        done(success());
    };
    if (auto r = m_shims.killQemu(uuidHex(), stopped); !r) {
        stopped(); // no QEMU left to kill
    }
}

void DomainModel::undefined() {
    setPersistent(false);
    setAutostart(false);
    m_nextDefinition.reset();
    m_host.lifecycleEvent(kEventUndefinedRemoved);
    if (!active() && !m_starting) {
        m_shims.removeRuntimeDir(uuidHex());
        becameInactive();
    }
}

void DomainModel::adoptRunning(StateAndReason reported) {
    if (m_id == -1 && isActive(reported.state)) {
        m_id = m_host.recoverId();
    }
    setState(reported.state, reported.reason);
}

void DomainModel::applyNextDefinition() {
    if (m_nextDefinition) {
        m_domain = std::move(*m_nextDefinition);
        m_nextDefinition.reset();
        m_host.propertiesChanged(
            {"Name", "Vcpus", "MemoryKiB", "CurrentVcpus", "CurrentMemoryKiB"});
    }
}

void DomainModel::becameInactive() {
    m_stoppingAs.reset();
    applyNextDefinition();
    if (!m_persistent && !active() && !m_starting) {
        m_host.released();
    }
}

} // namespace virtswarm::hypervisor
