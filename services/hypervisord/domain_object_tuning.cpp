// SPDX-License-Identifier: LGPL-2.1-or-later
// The Domain methods that tune a domain, live and in its persistent definition (memory,
// vCPUs, metadata), and those that poke the running guest (keys, NMI). libvirt's
// AFFECT_LIVE/AFFECT_CONFIG become the options "live" and "config".
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/domain_metadata.hpp"
#include "virtswarm/domain_tuning.hpp"
#include "virtswarm/keycodes.hpp"

#include <algorithm>

namespace virtswarm::hypervisor {

Result<DomainObject::Affect> DomainObject::affectOptions(const Options& options,
                                                         std::vector<const char*> extra) {
    extra.insert(extra.end(), {"live", "config"});
    if (auto r = checkOptions(options, extra); !r) {
        return r.takeError();
    }
    Affect affect;
    for (auto [flag, name] :
         {std::pair{&Affect::live, "live"}, std::pair{&Affect::config, "config"},
          std::pair{&Affect::maximum, "maximum"}}) {
        auto value = boolOption(options, name, false);
        if (!value) {
            return value.takeError();
        }
        affect.*flag = value.value();
    }
    return affect;
}

Result<DomainObject::Affect> DomainObject::resolveAffect(Affect affect) const {
    // libvirt's AFFECT_CURRENT: the running domain, or the definition of a stopped one.
    if (!affect.live && !affect.config) {
        (active() ? affect.live : affect.config) = true;
    }
    if (affect.live && !active()) {
        return notRunning(def().name);
    }
    if (affect.config && !m_model.persistent()) {
        return Error(Code::InvalidState, "cannot change persistent config of a transient domain");
    }
    return affect;
}

void DomainObject::changeLiveThenConfig(LiveStep live, std::optional<DomainXml> nextConfig,
                                        ShimDone done) {
    auto guard = m_lifetime.guard();
    auto saveConfig = [this, guard, done, nextConfig]() {
        if (!nextConfig || !guard.alive()) {
            done(success());
            return;
        }
        m_registry.store().save(*nextConfig, [this, guard, done, nextConfig](Result<void> saved) {
            if (saved && guard.alive()) {
                m_model.redefine(*nextConfig);
            }
            done(saved);
        });
    };
    if (!live) {
        saveConfig();
        return;
    }
    live([done, saveConfig](Result<void> r) {
        if (!r) {
            done(r);
            return;
        }
        saveConfig();
    });
}

void DomainObject::SetMemory(sdbus::Result<>&& result, uint64_t kib, Options options) {
    auto flags = affectOptions(options, {"maximum"});
    m_gate.handle(
        std::move(result), service::firstError(flags), domainAction("SetMemory"),
        [this, kib, flags = flags ? flags.value() : Affect{}](const SharedResult<>& shared) {
            auto affect = resolveAffect(flags);
            if (!affect) {
                reply(shared, affect.error());
                return;
            }
            if (affect.value().maximum && affect.value().live) {
                reply(shared, Error(Code::InvalidState,
                                    "cannot resize the maximum memory on an active domain"));
                return;
            }
            // The persistent definition is checked first, so a size it refuses changes
            // nothing in the guest either.
            std::optional<DomainXml> next;
            if (affect.value().config) {
                auto updated = withMemory(m_model.nextDomain(), kib, affect.value().maximum);
                if (!updated) {
                    reply(shared, updated.error());
                    return;
                }
                next = std::move(updated).value();
            }
            LiveStep live;
            if (affect.value().live) {
                live = [this, kib](ShimDone done) {
                    m_registry.shims().callVoid(uuidHex(), "SetMemory",
                                                m_registry.config().shimCallTimeout,
                                                std::move(done), kib, Options{});
                };
            }
            changeLiveThenConfig(std::move(live), std::move(next),
                                 [shared](Result<void> r) { reply(shared, r); });
        });
}

void DomainObject::SetVcpus(sdbus::Result<>&& result, uint32_t count, Options options) {
    auto flags = affectOptions(options, {"maximum"});
    m_gate.handle(
        std::move(result), service::firstError(flags), domainAction("SetVcpus"),
        [this, count, flags = flags ? flags.value() : Affect{}](const SharedResult<>& shared) {
            auto affect = resolveAffect(flags);
            if (!affect) {
                reply(shared, affect.error());
                return;
            }
            if (affect.value().live) {
                const DomainDef& running = m_model.domain().def;
                if (affect.value().maximum) {
                    reply(shared, Error(Code::InvalidArgs,
                                        "maximum vcpu count of a live domain can't be modified"));
                    return;
                }
                if (count == 0 || count > running.vcpus) {
                    reply(shared,
                          Error(Code::InvalidArgs,
                                "requested vcpus is greater than max allowable vcpus for the "
                                "live domain: " +
                                    std::to_string(count) + " > " + std::to_string(running.vcpus)));
                    return;
                }
            }
            std::optional<DomainXml> next;
            if (affect.value().config) {
                auto updated = withVcpus(m_model.nextDomain(), count, affect.value().maximum);
                if (!updated) {
                    reply(shared, updated.error());
                    return;
                }
                next = std::move(updated).value();
            }
            LiveStep live;
            if (affect.value().live) {
                // vCPU hotplug: the shim adds or removes CPU devices, the guest releasing
                // each removed one (a device detach's wait).
                // The shim waits up to 20 s for each removal, as for DetachDevice.
                uint32_t steps = std::max(count, m_model.domain().def.vcpusCurrent);
                live = [this, count, steps](ShimDone done) {
                    auto guard = m_lifetime.guard();
                    m_registry.shims().callVoid(
                        uuidHex(), "SetVcpus",
                        m_registry.config().shimCallTimeout + std::chrono::seconds(20) * steps,
                        [this, guard, count, done](Result<void> r) {
                            if (r && guard.alive()) {
                                if (auto running = withVcpus(m_model.domain(), count, false)) {
                                    m_model.liveChanged(std::move(running).value());
                                }
                            }
                            done(std::move(r));
                        },
                        count, Options{});
                };
            }
            changeLiveThenConfig(std::move(live), std::move(next),
                                 [shared](Result<void> r) { reply(shared, r); });
        });
}

void DomainObject::onDeviceRemoved(const std::string& alias) {
    bool vcpu = alias.size() > 4 && alias.rfind("vcpu", 0) == 0 &&
                alias.find_first_not_of("0123456789", 4) == std::string::npos;
    if (!vcpu || !active()) {
        return;
    }
    auto guard = m_lifetime.guard();
    m_registry.shims().call<std::string>(
        uuidHex(), "GetXML", m_registry.config().shimCallTimeout,
        [this, guard](Result<std::string> live) {
            auto parsed = live ? parseDomainXml(live.value()) : Result<DomainXml>(live.error());
            if (!guard.alive() || !parsed || !active()) {
                return;
            }
            uint32_t online = parsed.value().def.vcpusCurrent;
            if (online == m_model.domain().def.vcpusCurrent) {
                return;
            }
            if (auto running = withVcpus(m_model.domain(), online, false)) {
                m_model.liveChanged(std::move(running).value());
            }
        },
        Options{});
}

void DomainObject::GetVcpus(sdbus::Result<uint32_t>&& result, Options options) {
    auto flags = affectOptions(options, {"maximum"});
    m_gate.handle(
        std::move(result), service::firstError(flags), domainAction("GetVcpus"),
        [this, flags = flags ? flags.value() : Affect{}](const SharedResult<uint32_t>& shared) {
            if (flags.live && !active()) {
                fail(shared, notRunning(def().name));
                return;
            }
            // config: the definition the next start uses; live: what runs.
            bool live = flags.live || (!flags.config && active());
            const DomainDef& d = live ? m_model.domain().def : m_model.nextDomain().def;
            shared->returnResults(flags.maximum ? d.vcpus : d.vcpusCurrent);
        });
}

void DomainObject::SendKey(sdbus::Result<>&& result, std::string codeset, uint32_t holdtime,
                           std::vector<uint32_t> keycodes, Options options) {
    auto qnums = toQnumKeys(codeset, keycodes);
    m_gate.handle(std::move(result), service::firstError(checkOptions(options, {}), qnums),
                  domainAction("SendKey"),
                  [this, holdtime, qnums = qnums ? qnums.value() : std::vector<uint32_t>{}](
                      const SharedResult<>& shared) {
                      if (!active()) {
                          reply(shared, notRunning(def().name));
                          return;
                      }
                      m_registry.shims().callVoid(
                          uuidHex(), "SendKey", m_registry.config().shimCallTimeout,
                          [shared](Result<void> r) { reply(shared, r); }, qnums, holdtime,
                          Options{});
                  });
}

void DomainObject::InjectNMI(sdbus::Result<>&& result, Options options) {
    forwardToShim(std::move(result), options, domainAction("InjectNMI"),
                  {DomainState::Running, DomainState::Paused}, "InjectNMI");
}

void DomainObject::GetMetadata(sdbus::Result<std::string>&& result, std::string type,
                               std::string uri, Options options) {
    auto flags = affectOptions(options, {});
    auto kind = parseMetadataKind(type);
    m_gate.handle(
        std::move(result), service::firstError(flags, kind), domainAction("GetMetadata"),
        [this, uri, kind = kind ? kind.value() : MetadataKind::Title,
         flags = flags ? flags.value() : Affect{}](const SharedResult<std::string>& shared) {
            if (flags.live && flags.config) {
                fail(shared, Error(Code::InvalidArgs, "live and config are exclusive here"));
                return;
            }
            if (flags.live && !active()) {
                fail(shared, notRunning(def().name));
                return;
            }
            if (flags.config || !active()) {
                reply(shared, metadataOf(m_model.nextDomain().xml, kind, uri));
                return;
            }
            // The live definition is the shim's (a live SetMetadata changed only it).
            m_registry.shims().call<std::string>(
                uuidHex(), "GetXML", m_registry.config().shimCallTimeout,
                [shared, kind, uri](Result<std::string> live) {
                    if (!live) {
                        fail(shared, live.error());
                        return;
                    }
                    reply(shared, metadataOf(live.value(), kind, uri));
                },
                Options{});
        });
}

void DomainObject::SetMetadata(sdbus::Result<>&& result, std::string type, std::string metadata,
                               std::string key, std::string uri, Options options) {
    auto flags = affectOptions(options, {});
    auto kind = parseMetadataKind(type);
    m_gate.handle(
        std::move(result), service::firstError(flags, kind), domainAction("SetMetadata"),
        [this, type, metadata, key, uri, kind = kind ? kind.value() : MetadataKind::Title,
         flags = flags ? flags.value() : Affect{}](const SharedResult<>& shared) {
            auto affect = resolveAffect(flags);
            if (!affect) {
                reply(shared, affect.error());
                return;
            }
            // Checked against the persistent definition, or the running one, before any
            // change, so bad input changes neither.
            const DomainXml& base = affect.value().config ? m_model.nextDomain() : m_model.domain();
            auto updated = withMetadata(base, kind, metadata, key, uri);
            if (!updated) {
                reply(shared, updated.error());
                return;
            }
            std::optional<DomainXml> next;
            if (affect.value().config) {
                next = std::move(updated).value();
            }
            LiveStep live;
            if (affect.value().live) {
                live = [this, type, metadata, key, uri](ShimDone done) {
                    m_registry.shims().callVoid(
                        uuidHex(), "SetMetadata", m_registry.config().shimCallTimeout,
                        std::move(done), type, metadata, key, uri, Options{});
                };
            }
            // libvirt's METADATA_CHANGE event, once the change is made.
            auto guard = m_lifetime.guard();
            changeLiveThenConfig(
                std::move(live), std::move(next), [this, guard, shared, type, uri](Result<void> r) {
                    if (r && guard.alive()) {
                        m_registry.emitNotice(
                            *this, {ShimSupervisor::Notice::Kind::MetadataChanged, {}, type, uri});
                    }
                    reply(shared, r);
                });
        });
}

} // namespace virtswarm::hypervisor
