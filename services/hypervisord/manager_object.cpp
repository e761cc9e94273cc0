// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "capabilities.hpp"
#include "domain_object.hpp"
#include "registry.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/domain_schema.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::hypervisor {
namespace {

// The rights of the Manager's methods, from the one table (virtswarm/polkit_actions.hpp).
constexpr auto kDefineXml = actions::forMethod(names::kHypervisorManagerInterface, "DefineXML");
constexpr auto kCreateXml = actions::forMethod(names::kHypervisorManagerInterface, "CreateXML");
constexpr auto kGetAllStats = actions::forMethod(names::kHypervisorManagerInterface, "GetAllStats");

// The option of DefineXML and CreateXML that checks the text against libvirt's schema
// first (VIR_DOMAIN_DEFINE_VALIDATE, VIR_DOMAIN_START_VALIDATE).
constexpr const char* kValidateOption = "validate";

// How a Define/Create reads its XML: with validate, unknown elements and attributes are
// refused (InvalidSchema) before the definition is parsed, as libvirt does.
std::function<Result<DomainXml>(const std::string&)> domainParser(const Options& options) {
    auto validate = boolOption(options, kValidateOption, false);
    return [validate](const std::string& xml) -> Result<DomainXml> {
        if (!validate) {
            return validate.error();
        }
        if (validate.value()) {
            if (auto r = validateDomainSchema(xml); !r) {
                return r.takeError();
            }
        }
        return parseDomainXml(xml);
    };
}

// The definition will reach only what its definer can: the caller, or the client a root
// caller (the libvirt bridge) acts for.
Result<void> recordDefiner(DomainXml& domain, uid_t caller, const Options& options) {
    auto definer = resolveDefiner(caller, options);
    if (!definer) {
        return definer.takeError();
    }
    domain.definer = definer.value();
    return success();
}

} // namespace

ManagerObject::ManagerObject(Registry& registry)
    : ManagerBase(registry.connection(), names::kHypervisorRootPath, registry.domains())
    , m_registry(registry) {
    registerAdaptor();
    m_registry.setEventEmitter([this](const DomainObject& d, LifecycleEvent e) {
        emitDomainEvent(Registry::objectPathFor(d.def().uuid), d.def().name, d.uuidText(), e.event,
                        e.detail);
    });
    m_registry.setNoticeEmitter([this](const DomainObject& d, const ShimSupervisor::Notice& n) {
        auto path = Registry::objectPathFor(d.def().uuid);
        switch (n.kind) {
        case ShimSupervisor::Notice::Kind::Rebooted:
            emitDomainRebooted(path, d.def().name, d.uuidText());
            break;
        case ShimSupervisor::Notice::Kind::DeviceRemoved:
            emitDomainDeviceRemoved(path, d.def().name, d.uuidText(), n.alias);
            break;
        case ShimSupervisor::Notice::Kind::MetadataChanged:
            emitDomainMetadataChanged(path, d.def().name, d.uuidText(), n.metadataType, n.uri);
            break;
        }
    });
}

ManagerObject::~ManagerObject() {
    m_registry.setEventEmitter(nullptr);
    m_registry.setNoticeEmitter(nullptr);
    unregisterAdaptor();
}

void ManagerObject::DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    authorizeAdmitted(std::move(result), xml, options, kDefineXml,
                      [this](const PathResult& shared, const std::shared_ptr<DomainXml>& domain) {
                          // Disk first: a definition the registry announces is one that survives a
                          // crash. Concurrent defines share the syncs (DomainStore's group commit);
                          // the name and UUID are held meanwhile.
                          m_registry.reserve(domain->def);
                          auto guard = m_lifetime.guard();
                          m_registry.store().save(
                              *domain, [this, guard, shared, domain](Result<void> saved) {
                                  if (!guard.alive()) {
                                      return;
                                  }
                                  m_registry.release(domain->def);
                                  if (!saved) {
                                      failPath(shared, saved.error());
                                      return;
                                  }
                                  auto defined = addDefinition(std::move(*domain));
                                  if (!defined) {
                                      failPath(shared, defined.error());
                                      return;
                                  }
                                  shared->returnResults(sdbus::ObjectPath(defined.value()));
                              });
                      });
}

// How DefineXML and CreateXML begin: options, parse and polkit (the skeleton's), then, once
// polkit allowed it, the definer recorded and the conflicts checked, now and not before
// polkit: another client may have defined in between. `then` gets an admitted definition.
void ManagerObject::authorizeAdmitted(sdbus::Result<sdbus::ObjectPath>&& result,
                                      const std::string& xml, const Options& options,
                                      const actions::MethodAction& action, Admitted then) {
    authorizeDefinitionFor<DomainXml>(
        getObject(), m_registry.authority(), std::move(result), xml, options, "domain",
        DefinitionRights{actions::actionIds(action), {kDefinerUidOption, kValidateOption}},
        domainParser(options),
        [this, options, then = std::move(then)](
            const PathResult& shared, const std::shared_ptr<DomainXml>& domain, uid_t caller) {
            if (auto r = recordDefiner(*domain, caller, options); !r) {
                failPath(shared, r.error());
                return;
            }
            if (auto conflict = m_registry.conflictFor(domain->def)) {
                failPath(shared, *conflict);
                return;
            }
            then(shared, domain);
        });
}

// The domain with the definition's UUID gets it as its next definition, or a new domain
// is added.
Result<std::string> ManagerObject::addDefinition(DomainXml domain) {
    auto path = Registry::objectPathFor(domain.def.uuid);
    if (auto* existing = m_registry.findByUuid(domain.def.uuid)) {
        existing->model().redefine(domain);
        existing->model().setPersistent(true);
        m_registry.emitLifecycle(*existing, kEventDefinedUpdated);
        return path;
    }
    auto defined = m_registry.define(std::move(domain), true);
    if (!defined) {
        return defined.takeError();
    }
    log::info("defined domain '" + defined.value()->def().name + "'");
    m_registry.emitLifecycle(*defined.value(), kEventDefinedAdded);
    return path;
}

void ManagerObject::CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                              Options options) {
    // Creating is defining and starting at once: it needs both rights (as libvirt's
    // create needs write and start), or "start" alone would let a user run any new
    // definition.
    authorizeAdmitted(std::move(result), xml, options, kCreateXml,
                      [this](const PathResult& shared, const std::shared_ptr<DomainXml>& domain) {
                          auto defined = m_registry.define(std::move(*domain), false);
                          if (!defined) {
                              failPath(shared, defined.error());
                              return;
                          }
                          DomainObject* d = defined.value();
                          auto path = Registry::objectPathFor(d->def().uuid);
                          // A transient domain that fails to start is removed again
                          // (becameInactive).
                          d->model().start([shared, path](Result<void> outcome) {
                              if (outcome) {
                                  shared->returnResults(sdbus::ObjectPath(path));
                              } else {
                                  failPath(shared, outcome.error());
                              }
                          });
                      });
}

std::vector<sdbus::ObjectPath> ManagerObject::ListDomains(const Options& options) {
    return listPaths(options, [](const DomainObject& d) { return d.active(); });
}

// Fans out to every shim at once and answers when all have, or when the deadline passed
// for the slow ones: one stuck QEMU costs this call at most `timeout`, and is reported
// as unavailable instead of holding every other domain's answer hostage.
void ManagerObject::GetAllStats(sdbus::Result<std::map<sdbus::ObjectPath, Options>>&& result,
                                Options options) {
    using AllStats = std::map<sdbus::ObjectPath, Options>;
    auto shared = std::make_shared<sdbus::Result<AllStats>>(std::move(result));
    auto timeoutMs = uintOption(options, "timeout", 1000);
    if (auto r = checkOptions(options, {"timeout"}); !r || !timeoutMs) {
        shared->returnError(toDBusError(!r ? r.error() : timeoutMs.error()));
        return;
    }
    auto timeout = std::chrono::milliseconds(timeoutMs.value());
    struct Collection {
        AllStats stats;
        size_t pending = 0;
    };
    auto collection = std::make_shared<Collection>();
    auto domains = m_registry.all();
    collection->pending = domains.size();
    if (domains.empty()) {
        shared->returnResults(AllStats{});
        return;
    }
    auto finishOne = [shared, collection] {
        if (--collection->pending == 0) {
            shared->returnResults(collection->stats);
        }
    };
    Caller caller = currentCaller(getObject());
    for (DomainObject* d : domains) {
        sdbus::ObjectPath path(Registry::objectPathFor(d->def().uuid));
        auto guard = d->lifetimeGuard();
        m_registry.authority().checkBusName(
            caller.sender, actions::actionId(kGetAllStats),
            actions::objectDetails("domain", d->def().name, d->def().uuid), caller.allowInteraction,
            [d, guard, path, timeout, collection, finishOne](Result<void> allowed) {
                // Domains the caller may not read, or that vanished meanwhile, are left out.
                if (!allowed || !guard.alive()) {
                    finishOne();
                    return;
                }
                d->collectStats(timeout, [path, collection, finishOne](Options stats) {
                    collection->stats.emplace(path, std::move(stats));
                    finishOne();
                });
            });
    }
}

std::string ManagerObject::GetCapabilities() {
    return hostCapabilitiesXml();
}

std::string ManagerObject::Mode() {
    return busModeName(m_registry.config().mode);
}

} // namespace virtswarm::hypervisor
