// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_object.hpp"

#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/tpm_state.hpp"

namespace virtswarm::hypervisor {

DomainObject::DomainObject(Registry& registry, DomainXml domain, bool persistent)
    : AdaptorInterfaces(registry.connection(), Registry::objectPathFor(domain.def.uuid))
    , m_registry(registry)
    , m_model(*this, registry.shims(), registry.loop(),
              DomainModelConfig{registry.config().startTimeout, registry.config().shimCallTimeout,
                                registry.config().paths.stateDir + "/save"},
              std::move(domain), persistent) {
    registerAdaptor();
    emitInterfacesAddedSignal();
}

DomainObject::~DomainObject() {
    // A Start still waiting is answered before the object leaves the bus.
    m_model.abandonStart();
    // The bus may already be gone when the daemon exits; a destructor must not throw.
    try {
        emitInterfacesRemovedSignal();
    } catch (const sdbus::Error& e) {
        log::debug("InterfacesRemoved not sent: " + e.getMessage());
    }
    unregisterAdaptor();
}

void DomainObject::authorize(std::string_view actionId, std::function<void(Result<void>)> then) {
    authorize(currentCaller(getObject()), actionId, std::move(then));
}

void DomainObject::authorize(const Caller& caller, std::string_view actionId,
                             std::function<void(Result<void>)> then) {
    PolkitDetails details = actions::objectDetails("domain", def().name, def().uuid);
    auto guard = m_lifetime.guard();
    std::string name = def().name;
    m_registry.authority().checkBusName(
        caller.sender, std::string(actionId), details, caller.allowInteraction,
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
                 "domain '" + def().name + "' is " + std::string(toString(m_model.state())));
}

void DomainObject::propertiesChanged(const std::vector<std::string>& names) {
    emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, names);
}

void DomainObject::stateChanged(StateAndReason now) {
    emitStateChanged(std::string(toString(now.state)), std::string(toString(now.reason)));
}

void DomainObject::lifecycleEvent(LifecycleEvent event) {
    m_registry.emitLifecycle(*this, event);
}

void DomainObject::released() {
    // Gone for every later call at once; the object itself is destroyed by the registry on
    // the next loop turn (this may be its own call stack).
    m_registry.remove(*this);
}

int DomainObject::assignId() {
    return m_registry.assignId(uuidHex());
}

int DomainObject::recoverId() {
    return m_registry.recoverId(uuidHex());
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
        m_model.start([shared](Result<void> outcome) { reply(shared, std::move(outcome)); });
    };
    authorize(caller, domainAction("Start"),
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
                  authorize(caller, actions::kDomainDiscardSaveAction,
                            [this, shared, boot](Result<void> mayDiscard) {
                                if (!mayDiscard) {
                                    reply(shared, mayDiscard);
                                    return;
                                }
                                if (active() || m_model.starting()) {
                                    reply(shared,
                                          Error(Code::InvalidState,
                                                "domain '" + def().name + "' is already running"));
                                    return;
                                }
                                if (auto r = m_model.removeManagedSave(); !r) {
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
    authorize(domainAction("Shutdown"), [this, shared, options](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (m_model.state() != DomainState::Running && m_model.state() != DomainState::Paused) {
            reply(shared, notRunning(def().name));
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
    authorize(domainAction("Destroy"), [this, shared](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        m_model.destroy([shared](Result<void> r) { reply(shared, std::move(r)); });
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
    authorize(domainAction("Undefine"),
              [this, shared, keepTpm = keepTpm.value()](Result<void> allowed) {
                  if (!allowed) {
                      reply(shared, allowed);
                      return;
                  }
                  if (!m_model.persistent()) {
                      reply(shared, Error(Code::InvalidState,
                                          "cannot undefine transient domain '" + def().name + "'"));
                      return;
                  }
                  if (auto r = m_registry.store().remove(def().uuid); !r) {
                      reply(shared, r);
                      return;
                  }
                  // Nothing could ever restore the image of a domain that is no longer defined.
                  if (auto r = m_model.removeManagedSave(); !r) {
                      log::warning("undefine of '" + def().name + "': " + r.error().message());
                  }
                  // The TPM's state goes with the definition; a running swtpm keeps its open files
                  // until the domain stops. A small directory: removed in place.
                  if (!keepTpm) {
                      if (auto r = removeTpmState(m_registry.config().mode, def().uuid); !r) {
                          log::warning(r.error().message());
                      }
                  }
                  // As in libvirt, a running domain stays up as a transient one.
                  m_model.undefined();
                  reply(shared, success());
              });
}

void DomainObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {"inactive", "secure"}); !r) {
        fail(shared, r.error());
        return;
    }
    auto inactive = boolOption(options, "inactive", false);
    auto secure = boolOption(options, "secure", false);
    if (!inactive || !secure) {
        fail(shared, !inactive ? inactive.error() : secure.error());
        return;
    }
    bool wantInactive = inactive.value();
    bool wantSecure = secure.value();
    Caller caller = currentCaller(getObject());
    authorize(caller, domainAction("GetXML"),
              [this, shared, caller, wantInactive, wantSecure](Result<void> allowed) {
                  if (!allowed) {
                      fail(shared, allowed.error());
                      return;
                  }
                  if (!wantSecure) {
                      replyXml(shared, wantInactive, false);
                      return;
                  }
                  // As libvirt: secrets need read-secure on top of read.
                  authorize(caller, actions::kDomainReadSecureAction,
                            [this, shared, wantInactive](Result<void> allowedSecure) {
                                if (!allowedSecure) {
                                    fail(shared, allowedSecure.error());
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
        result->returnResults(shown(m_model.nextDomain().xml));
        return;
    }
    if (!active()) {
        result->returnResults(shown(m_model.domain().xml));
        return;
    }
    // The shim knows runtime facts (pty paths, hotplugged devices) and answers without
    // asking QEMU; if it cannot answer, the definition it was started with will do.
    auto guard = m_lifetime.guard();
    m_registry.shims().call<std::string>(
        uuidHex(), "GetXML", m_registry.config().shimCallTimeout,
        [this, guard, result, shown](Result<std::string> live) {
            if (!guard.alive()) {
                fail(result, Error(Code::NoSuchDomain, "domain removed"));
                return;
            }
            result->returnResults(
                shown(liveDomainXml(live ? live.value() : m_model.domain().xml, m_model.id())));
        },
        Options{});
}

void DomainObject::SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        reply(shared, r);
        return;
    }
    authorize(domainAction("SetAutostart"), [this, shared, autostart](Result<void> allowed) {
        if (!allowed) {
            reply(shared, allowed);
            return;
        }
        if (!m_model.persistent()) {
            reply(shared, Error(Code::InvalidState,
                                "cannot set autostart for transient domain '" + def().name + "'"));
            return;
        }
        if (auto r = m_registry.store().setAutostart(def().uuid, autostart); !r) {
            reply(shared, r);
            return;
        }
        m_model.setAutostart(autostart);
        reply(shared, success());
    });
}

} // namespace virtswarm::hypervisor
