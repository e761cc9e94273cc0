// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_object.hpp"

#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/tpm_state.hpp"

#include <unistd.h>

namespace virtswarm::hypervisor {
DomainObject::DomainObject(Registry& registry, DomainXml domain, bool persistent)
    : AdaptorInterfaces(registry.connection(), Registry::objectPathFor(domain.def.uuid))
    , m_registry(registry)
    , m_domain(std::move(domain))
    , m_persistent(persistent) {
    registerAdaptor();
    emitInterfacesAddedSignal();
}

DomainObject::~DomainObject() {
    if (m_startDone) {
        auto done = std::move(m_startDone);
        done(Error(Code::NoSuchDomain, "domain '" + m_domain.def.name + "' was removed"));
    }
    // The bus may already be gone when the daemon exits; a destructor must not throw.
    try {
        emitInterfacesRemovedSignal();
    } catch (const sdbus::Error& e) {
        log::debug("InterfacesRemoved not sent: " + e.getMessage());
    }
    unregisterAdaptor();
}

bool DomainObject::active() const {
    return isActive(m_state);
}

void DomainObject::authorize(const char* actionId, std::function<void(Result<void>)> then) {
    authorize(currentCaller(getObject()), actionId, std::move(then));
}

void DomainObject::authorize(const Caller& caller, const char* actionId,
                             std::function<void(Result<void>)> then) {
    PolkitDetails details{{"domain_name", m_domain.def.name}, {"domain_uuid", uuidText()}};
    auto guard = m_lifetime.guard();
    std::string name = m_domain.def.name;
    m_registry.authority().checkBusName(
        caller.sender, actionId, details, caller.allowInteraction,
        [guard, name, then = std::move(then)](Result<void> verdict) {
            // The domain may have been undefined while polkit was thinking.
            if (!guard.alive()) {
                then(Error(Code::NoSuchDomain, "domain '" + name + "' no longer exists"));
                return;
            }
            then(std::move(verdict));
        });
}

Error DomainObject::wrongState() const {
    return Error(Code::InvalidState,
                 "domain '" + m_domain.def.name + "' is " + std::string(toString(m_state)));
}

void DomainObject::setState(DomainState state, DomainReason reason) {
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
    emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, changed);
    emitStateChanged(std::string(toString(m_state)), std::string(toString(m_reason)));
    m_registry.emitLifecycle(*this, lifecycleEventFor(m_state, m_reason));
}

void DomainObject::setPersistent(bool persistent) {
    if (m_persistent != persistent) {
        m_persistent = persistent;
        emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, {"Persistent"});
    }
}

void DomainObject::redefine(DomainXml domain) {
    if (active() || m_starting) {
        m_nextDefinition = std::move(domain);
        return;
    }
    bool nameChanged = domain.def.name != m_domain.def.name;
    m_domain = std::move(domain);
    std::vector<std::string> changed{"Vcpus", "MemoryKiB"};
    if (nameChanged) {
        changed.emplace_back("Name");
    }
    emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, changed);
}

void DomainObject::start(std::function<void(Result<void>)> done) {
    if (active() || m_starting) {
        done(Error(Code::InvalidState, "domain '" + m_domain.def.name + "' is already running"));
        return;
    }
    m_starting = true;
    m_startDone = std::move(done);
    // The shim of the previous run may still be on its way out (it answers Destroy just
    // before it exits); the new one would find its bus name taken. Launch once it is gone.
    if (m_registry.shims().present(uuidHex())) {
        m_launchWhenGone = true;
    } else {
        launchShim();
    }
    auto guard = m_lifetime.guard();
    m_startTimer = m_registry.loop().addTimer(m_registry.config().startTimeout, [this, guard] {
        if (!guard.alive()) {
            return;
        }
        // Do not leave a half-started QEMU behind a failed Start.
        m_registry.shims().callMethod(uuidHex(), "Destroy", m_registry.config().shimCallTimeout,
                                      [](Result<void>) {});
        finishStart(Error(Code::Timeout,
                          "domain '" + m_domain.def.name + "' did not reach running in time"));
    });
}

void DomainObject::launchShim() {
    m_launchWhenGone = false;
    int restoreFd = openManagedSaveForRestore();
    auto launched = m_registry.shims().launch(uuidHex(), m_domain, false, restoreFd);
    if (restoreFd >= 0) {
        ::close(restoreFd); // the shim has its own copy
    }
    if (!launched) {
        finishStart(launched.takeError().prefix("cannot start domain '" + m_domain.def.name + "'"));
    }
}

void DomainObject::finishStart(Result<void> outcome) {
    m_starting = false;
    restoreFinished(outcome.ok());
    m_launchWhenGone = false;
    m_startTimer.reset();
    auto done = std::move(m_startDone);
    m_startDone = nullptr;
    if (done) {
        done(std::move(outcome));
    }
}

void DomainObject::reattach() {
    if (auto r = m_registry.shims().launch(uuidHex(), m_domain, true); !r) {
        log::error("cannot re-attach to '" + m_domain.def.name + "': " + r.error().message());
        return;
    }
    m_reattaching = true;
}

void DomainObject::onShimState(StateAndReason reported) {
    if (m_reattaching) {
        m_reattaching = false;
        adoptRunning(reported);
        return;
    }
    if (m_starting && reported.state == DomainState::Running) {
        m_id = m_registry.assignId(uuidHex());
        setState(reported.state, reported.reason);
        finishStart(success());
        return;
    }
    if (!m_starting && !active()) {
        return; // a late signal from a shim that already reported shutoff
    }
    setState(reported.state, reported.reason);
    if (!active()) {
        if (m_starting) {
            // The shim wrote why before it reported shutoff: QEMU's own message, a QMP
            // handshake that timed out, a TAP that was refused...
            Error why = m_registry.shims().readFailure(uuidHex()).value_or(
                Error(Code::OperationFailed, "the domain stopped while starting"));
            finishStart(why.prefix("cannot start domain '" + m_domain.def.name + "'"));
        }
        becameInactive();
    }
}

void DomainObject::onShimGone(std::optional<Error> failure) {
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
    if (m_registry.shims().qemuAlive(uuidHex())) {
        relaunchShim();
        return;
    }
    log::warning("domain '" + m_domain.def.name + "' lost its shim and its QEMU");
    setState(DomainState::Shutoff, DomainReason::Crashed);
    becameInactive();
}

void DomainObject::relaunchShim() {
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
    m_relaunchTimer = m_registry.loop().addTimer(*delay, [this, guard] {
        if (!guard.alive()) {
            return;
        }
        m_relaunchTimer.reset();
        if (!m_registry.shims().qemuAlive(uuidHex())) {
            log::warning("domain '" + m_domain.def.name + "' lost its shim and its QEMU");
            setState(DomainState::Shutoff, DomainReason::Crashed);
            m_registry.shims().removeRuntimeDir(uuidHex());
            becameInactive();
            return;
        }
        if (auto r = m_registry.shims().launch(uuidHex(), m_domain, true); !r) {
            log::error("cannot re-attach to '" + m_domain.def.name + "': " + r.error().message());
            relaunchShim();
        }
    });
}

void DomainObject::destroyWithoutShim(std::function<void(Result<void>)> done) {
    m_relaunchTimer.reset();
    auto guard = m_lifetime.guard();
    auto stopped = [this, guard, done] {
        if (guard.alive()) {
            setState(DomainState::Shutoff, DomainReason::Destroyed);
            m_registry.shims().removeRuntimeDir(uuidHex());
            becameInactive();
        }
        done(success());
    };
    if (auto r = m_registry.shims().killQemu(uuidHex(), stopped); !r) {
        stopped(); // no QEMU left to kill
    }
}

void DomainObject::adoptRunning(StateAndReason reported) {
    if (m_id == -1 && isActive(reported.state)) {
        m_id = m_registry.recoverId(uuidHex());
    }
    setState(reported.state, reported.reason);
}

void DomainObject::becameInactive() {
    if (m_nextDefinition) {
        m_domain = std::move(*m_nextDefinition);
        m_nextDefinition.reset();
        emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, {"Name", "Vcpus", "MemoryKiB"});
    }
    if (!m_persistent && !active() && !m_starting) {
        // Gone for every later call at once; the object itself is destroyed by the
        // registry on the next loop turn (this may be its own call stack).
        m_registry.remove(*this);
    }
}

void DomainObject::Start(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {"force-boot"}); !r) {
        reply(shared, r);
        return;
    }
    auto forceBoot = boolOption(options, "force-boot", false);
    if (!forceBoot) {
        reply(shared, forceBoot.takeError());
        return;
    }
    Caller caller = currentCaller(getObject());
    auto boot = [this, shared] {
        start([shared](Result<void> outcome) { reply(shared, std::move(outcome)); });
    };
    authorize(caller, "org.virtswarm.domain.start",
              [this, shared, caller, boot, forceBoot = forceBoot.value()](Result<void> allowed) {
                  if (!allowed) {
                      reply(shared, allowed);
                      return;
                  }
                  if (!forceBoot) {
                      boot();
                      return;
                  }
                  // Discarding the saved guest is what ManagedSaveRemove needs.
                  authorize(caller, "org.virtswarm.domain.hibernate",
                            [this, shared, boot](Result<void> mayDiscard) {
                                if (!mayDiscard) {
                                    reply(shared, mayDiscard);
                                    return;
                                }
                                if (active() || m_starting) {
                                    reply(shared,
                                          Error(Code::InvalidState, "domain '" + m_domain.def.name +
                                                                        "' is already running"));
                                    return;
                                }
                                if (auto r = removeManagedSave(); !r) {
                                    reply(shared, r);
                                    return;
                                }
                                boot();
                            });
              });
}

void DomainObject::Shutdown(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    auto timeout = uintOption(options, "timeout", 0);
    if (auto r = checkOptions(options, {"timeout", "mode"}); !r || !timeout) {
        reply(shared, !r ? r : Result<void>(timeout.error()));
        return;
    }
    authorize("org.virtswarm.domain.stop", [this, shared, options](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (m_state != DomainState::Running && m_state != DomainState::Paused) {
            reply(shared, notRunning(m_domain.def.name));
            return;
        }
        m_registry.shims().callVoid(
            uuidHex(), "Shutdown", m_registry.config().shimCallTimeout,
            [shared](Result<void> r) { reply(shared, std::move(r)); }, options);
    });
}

void DomainObject::Destroy(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        reply(shared, r);
        return;
    }
    authorize("org.virtswarm.domain.stop", [this, shared](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (!active()) {
            reply(shared, m_starting ? Error(Code::InvalidState,
                                             "domain '" + m_domain.def.name + "' is still starting")
                                     : notRunning(m_domain.def.name));
            return;
        }
        if (!m_registry.shims().present(uuidHex())) {
            destroyWithoutShim([shared](Result<void> r) { reply(shared, std::move(r)); });
            return;
        }
        // The shim answers once QEMU is gone, after its SIGTERM grace period.
        auto timeout = m_registry.config().shimCallTimeout + std::chrono::seconds(15);
        m_registry.shims().callMethod(uuidHex(), "Destroy", timeout,
                                      [shared](Result<void> r) { reply(shared, std::move(r)); });
    });
}

void DomainObject::Undefine(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    // keep-tpm: libvirt's VIR_DOMAIN_UNDEFINE_KEEP_TPM.
    auto keepTpm = boolOption(options, "keep-tpm", false);
    if (auto r = checkOptions(options, {"keep-tpm"}); !r || !keepTpm) {
        reply(shared, !r ? r : Result<void>(keepTpm.error()));
        return;
    }
    authorize("org.virtswarm.domain.delete", [this, shared,
                                              keepTpm = keepTpm.value()](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (!m_persistent) {
            reply(shared, Error(Code::InvalidState,
                                "cannot undefine transient domain '" + m_domain.def.name + "'"));
            return;
        }
        if (auto r = m_registry.store().remove(m_domain.def.uuid); !r) {
            reply(shared, r);
            return;
        }
        // Nothing could ever restore the image of a domain that is no longer defined.
        if (auto r = removeManagedSave(); !r) {
            log::warning("undefine of '" + m_domain.def.name + "': " + r.error().message());
        }
        // The TPM's state goes with the definition; a running swtpm keeps its open files
        // until the domain stops. A small directory: removed in place.
        if (!keepTpm) {
            if (auto r = removeTpmState(m_registry.config().mode, m_domain.def.uuid); !r) {
                log::warning(r.error().message());
            }
        }
        // As in libvirt, a running domain stays up as a transient one.
        setPersistent(false);
        if (m_autostart) {
            m_autostart = false;
            emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, {"Autostart"});
        }
        m_nextDefinition.reset();
        m_registry.emitLifecycle(*this, kEventUndefinedRemoved);
        bool stopped = !active() && !m_starting;
        if (stopped) {
            m_registry.shims().removeRuntimeDir(uuidHex());
        }
        reply(shared, success());
        if (stopped) {
            becameInactive();
        }
    });
}

void DomainObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto shared = share(std::move(result));
    auto fail = [shared](const Error& e) { shared->returnError(toDBusError(e)); };
    if (auto r = checkOptions(options, {"inactive", "secure"}); !r) {
        fail(r.error());
        return;
    }
    auto inactive = boolOption(options, "inactive", false);
    auto secure = boolOption(options, "secure", false);
    if (!inactive || !secure) {
        fail(!inactive ? inactive.error() : secure.error());
        return;
    }
    bool wantInactive = inactive.value();
    bool wantSecure = secure.value();
    Caller caller = currentCaller(getObject());
    authorize(caller, "org.virtswarm.domain.read",
              [this, shared, fail, caller, wantInactive, wantSecure](Result<void> allowed) {
                  if (!allowed) {
                      fail(allowed.error());
                      return;
                  }
                  if (!wantSecure) {
                      replyXml(shared, wantInactive, false);
                      return;
                  }
                  // As libvirt: secrets need read-secure on top of read.
                  authorize(caller, "org.virtswarm.domain.read-secure",
                            [this, shared, fail, wantInactive](Result<void> allowedSecure) {
                                if (!allowedSecure) {
                                    fail(allowedSecure.error());
                                    return;
                                }
                                replyXml(shared, wantInactive, true);
                            });
              });
}

void DomainObject::replyXml(const std::shared_ptr<sdbus::Result<std::string>>& result,
                            bool inactive, bool secure) {
    auto shown = [secure](const std::string& xml) { return secure ? xml : withoutSecrets(xml); };
    if (inactive) {
        result->returnResults(shown(m_nextDefinition ? m_nextDefinition->xml : m_domain.xml));
        return;
    }
    if (!active()) {
        result->returnResults(shown(m_domain.xml));
        return;
    }
    // The shim knows runtime facts (pty paths, hotplugged devices) and answers without
    // asking QEMU; if it cannot answer, the definition it was started with will do.
    auto guard = m_lifetime.guard();
    m_registry.shims().call<std::string>(
        uuidHex(), "GetXML", m_registry.config().shimCallTimeout,
        [this, guard, result, shown](Result<std::string> live) {
            if (!guard.alive()) {
                result->returnError(toDBusError(Error(Code::NoSuchDomain, "domain removed")));
                return;
            }
            result->returnResults(shown(liveDomainXml(live ? live.value() : m_domain.xml, m_id)));
        },
        Options{});
}

void DomainObject::SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        reply(shared, r);
        return;
    }
    authorize("org.virtswarm.domain.write", [this, shared, autostart](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (!m_persistent) {
            reply(shared, Error(Code::InvalidState, "cannot set autostart for transient domain '" +
                                                        m_domain.def.name + "'"));
            return;
        }
        if (auto r = m_registry.store().setAutostart(m_domain.def.uuid, autostart); !r) {
            reply(shared, r);
            return;
        }
        if (m_autostart != autostart) {
            m_autostart = autostart;
            emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, {"Autostart"});
        }
        reply(shared, success());
    });
}

} // namespace virtswarm::hypervisor
