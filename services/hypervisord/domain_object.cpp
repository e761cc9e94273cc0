// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_object.hpp"

#include "domain_reply.hpp"
#include "nvram_on_undefine.hpp"
#include "registry.hpp"
#include "snapshot_object.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/tpm_state.hpp"

namespace virtswarm::hypervisor {
namespace {

// The rights of the Domain methods here, from the one table (virtswarm/polkit_actions.hpp).
constexpr auto kStart = domainAction("Start");
constexpr auto kShutdown = domainAction("Shutdown");
constexpr auto kDestroy = domainAction("Destroy");
constexpr auto kUndefine = domainAction("Undefine");
constexpr auto kGetXML = domainAction("GetXML");
constexpr auto kSetAutostart = domainAction("SetAutostart");

} // namespace

DomainObject::DomainObject(Registry& registry, const std::string& objectPath, DomainXml domain,
                           bool persistent)
    : AdaptorInterfaces(registry.connection(), objectPath)
    , m_registry(registry)
    , m_model(*this, registry.shims(), registry.loop(),
              DomainModelConfig{registry.config().startTimeout, registry.config().shimCallTimeout,
                                registry.config().paths.stateDir + "/save"},
              std::move(domain), persistent)
    , m_gate(
          getObject(), registry.authority(),
          [this] { return actions::objectDetails("domain", def().name, def().uuid); },
          [this] {
              return Error(Code::NoSuchDomain, "domain '" + def().name + "' no longer exists");
          })
    , m_snapshots(registry.config().paths.stateDir + "/snapshot/" + m_model.uuidHex()) {
    registerAdaptor();
    loadSnapshots();
}

DomainObject::~DomainObject() {
    // A Start still waiting is answered before the object leaves the bus.
    m_model.abandonStart();
    for (auto& [name, snapshot] : m_snapshotObjects) {
        service::announceRemoval(*snapshot);
    }
    m_snapshotObjects.clear();
    unregisterAdaptor();
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
    // As libvirt: the snapshot metadata of a domain that is no longer defined goes with it
    // (Undefine refused to get here unless asked to let it go).
    if (auto r = forgetAllSnapshots(); !r) {
        log::error("domain '" + def().name + "': " + r.error().message());
    }
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
    auto forceBoot = boolOption(options, "force-boot", false);
    auto paused = boolOption(options, "paused", false);
    Caller caller = currentCaller(getObject());
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"force-boot", "paused"}), forceBoot, paused),
        kStart,
        [this, caller, forceBoot, paused = paused.value_or(false)](const SharedResult<>& shared) {
            auto boot = [this, shared, paused] {
                m_model.start([shared](Result<void> outcome) { reply(shared, outcome); },
                              StartOptions{.paused = paused});
            };
            if (!forceBoot.value()) {
                boot();
                return;
            }
            // Discarding the saved guest is what ManagedSaveRemove needs.
            m_gate.authorize(caller, actions::kDomainDiscardSaveAction,
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
    auto timeout = uintOption(options, "timeout", 0);
    m_gate.handle(
        std::move(result), service::firstError(checkOptions(options, {"timeout", "mode"}), timeout),
        kShutdown, [this, options](const SharedResult<>& shared) {
            if (m_model.state() != DomainState::Running && m_model.state() != DomainState::Paused) {
                reply(shared, notRunning(def().name));
                return;
            }
            m_registry.shims().callVoid(
                uuidHex(), "Shutdown", m_registry.config().shimCallTimeout,
                [shared](Result<void> r) { reply(shared, r); }, options);
        });
}

void DomainObject::Destroy(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kDestroy,
                  [this](const SharedResult<>& shared) {
                      m_model.destroy([shared](Result<void> r) { reply(shared, r); });
                  });
}

void DomainObject::Undefine(sdbus::Result<>&& result, Options options) {
    // keep-tpm: libvirt's VIR_DOMAIN_UNDEFINE_KEEP_TPM; nvram, keep-nvram: its
    // VIR_DOMAIN_UNDEFINE_NVRAM and _KEEP_NVRAM.
    auto keepTpm = boolOption(options, "keep-tpm", false);
    auto removeNvram = boolOption(options, "nvram", false);
    auto keepNvram = boolOption(options, "keep-nvram", false);
    // snapshots-metadata: libvirt's VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.
    auto snapshotsMetadata = boolOption(options, "snapshots-metadata", false);
    auto nvram = removeNvram && keepNvram ? nvramOnUndefine(removeNvram.value(), keepNvram.value())
                                          : Result<NvramOnUndefine>(NvramOnUndefine::Ask);
    m_gate.handle(
        std::move(result),
        service::firstError(
            checkOptions(options, {"keep-tpm", "nvram", "keep-nvram", "snapshots-metadata"}),
            keepTpm, removeNvram, keepNvram, nvram, snapshotsMetadata),
        kUndefine,
        [this, keepTpm = keepTpm ? keepTpm.value() : false,
         nvram = nvram ? nvram.value() : NvramOnUndefine::Ask,
         dropSnapshots =
             snapshotsMetadata && snapshotsMetadata.value()](const SharedResult<>& shared) {
            if (!m_model.persistent()) {
                reply(shared, Error(Code::InvalidState,
                                    "cannot undefine transient domain '" + def().name + "'"));
                return;
            }
            // As libvirt: the snapshots of a domain that would vanish must be let go of
            // explicitly; a running one keeps them until it stops.
            if (!active() && !m_snapshots.empty() && !dropSnapshots) {
                reply(shared, Error(Code::InvalidState, "cannot delete inactive domain with " +
                                                            std::to_string(m_snapshots.size()) +
                                                            " snapshots"));
                return;
            }
            // Before the definition goes: a refusal leaves everything as it was.
            if (auto settled = settleNvram(m_model.domain(), m_registry.config().mode, nvram);
                !settled) {
                reply(shared, settled.error());
                return;
            }
            // Concurrent undefines share their syncs (DomainStore's group commit).
            auto guard = m_lifetime.guard();
            m_registry.store().remove(def().uuid,
                                      [this, guard, shared, keepTpm](Result<void> removed) {
                                          if (!removed || !guard.alive() || !m_model.persistent()) {
                                              // Gone or undefined meanwhile, by a concurrent call:
                                              // as asked.
                                              reply(shared, removed);
                                              return;
                                          }
                                          forgetDefinition(keepTpm);
                                          reply(shared, success());
                                      });
        });
}

// What goes with a definition once it is off the disk.
void DomainObject::forgetDefinition(bool keepTpm) {
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
}

void DomainObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto inactive = boolOption(options, "inactive", false);
    auto secure = boolOption(options, "secure", false);
    Caller caller = currentCaller(getObject());
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"inactive", "secure"}), inactive, secure),
        kGetXML,
        [this, caller, wantInactive = inactive && inactive.value(),
         wantSecure = secure && secure.value()](const SharedResult<std::string>& shared) {
            if (!wantSecure) {
                replyXml(shared, wantInactive, false);
                return;
            }
            // As libvirt: secrets need read-secure on top of read.
            m_gate.authorize(caller, actions::kDomainReadSecureAction,
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
    m_gate.handle(std::move(result), checkOptions(options, {}), kSetAutostart,
                  [this, autostart](const SharedResult<>& shared) {
                      if (!m_model.persistent()) {
                          reply(shared, Error(Code::InvalidState,
                                              "cannot set autostart for transient domain '" +
                                                  def().name + "'"));
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
