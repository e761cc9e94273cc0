// SPDX-License-Identifier: LGPL-2.1-or-later
#include "snapshot_object.hpp"

#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::hypervisor {
namespace {

using Snapshot_adaptor = org::virtswarm::Hypervisor1::Snapshot_adaptor;

constexpr auto kGetXML = actions::forMethod(names::kSnapshotInterface, "GetXML");
constexpr auto kRevert = actions::forMethod(names::kSnapshotInterface, "Revert");
constexpr auto kDelete = actions::forMethod(names::kSnapshotInterface, "Delete");

} // namespace

std::string snapshotObjectPath(const std::string& domainPath, const std::string& name) {
    return domainPath + "/snapshot/" + escapePathElement(name);
}

SnapshotObject::SnapshotObject(Registry& registry, DomainObject& domain, std::string name)
    : AdaptorInterfaces(registry.connection(), snapshotObjectPath(domain.getObjectPath(), name))
    , m_registry(registry)
    , m_domain(domain)
    , m_name(std::move(name))
    , m_path(snapshotObjectPath(domain.getObjectPath(), m_name))
    , m_gate(
          getObject(), registry.authority(),
          [this] {
              return actions::objectDetails("domain", m_domain.def().name, m_domain.def().uuid);
          },
          [this] {
              return Error(Code::NoSuchSnapshot, "domain snapshot '" + m_name + "' is gone");
          }) {
    registerAdaptor();
}

SnapshotObject::~SnapshotObject() {
    unregisterAdaptor();
}

const SnapshotDef& SnapshotObject::def() const {
    return *m_domain.snapshots().find(m_name);
}

sdbus::ObjectPath SnapshotObject::Domain() {
    return sdbus::ObjectPath(m_domain.getObjectPath());
}

std::string SnapshotObject::Parent() {
    return def().parent;
}

std::string SnapshotObject::State() {
    return def().state;
}

std::string SnapshotObject::Memory() {
    return def().memory;
}

int64_t SnapshotObject::CreationTime() {
    return def().creationTime;
}

bool SnapshotObject::Current() {
    return m_domain.snapshots().current() == m_name;
}

void SnapshotObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    auto secure = boolOption(options, "secure", false);
    Caller caller = currentCaller(getObject());
    m_gate.handle(std::move(result), service::firstError(checkOptions(options, {"secure"}), secure),
                  kGetXML,
                  [this, caller,
                   wantSecure = secure && secure.value()](const SharedResult<std::string>& shared) {
                      auto answer = [shared](Result<std::string> xml) {
                          if (!xml) {
                              fail(shared, xml.error());
                              return;
                          }
                          shared->returnResults(xml.value());
                      };
                      if (!wantSecure) {
                          answer(m_domain.snapshotXml(m_name, false));
                          return;
                      }
                      // As the domain's GetXML: secrets need read-secure on top of read.
                      m_gate.authorize(caller, actions::kDomainReadSecureAction,
                                       [this, answer](Result<void> allowed) {
                                           answer(allowed ? m_domain.snapshotXml(m_name, true)
                                                          : Result<std::string>(allowed.error()));
                                       });
                  });
}

void SnapshotObject::Revert(sdbus::Result<>&& result, Options options) {
    auto running = boolOption(options, "running", false);
    auto paused = boolOption(options, "paused", false);
    auto force = boolOption(options, "force", false);
    bool both = running && paused && running.value() && paused.value();
    m_gate.handle(
        std::move(result),
        service::firstError(
            checkOptions(options, {"running", "paused", "force"}), running, paused, force,
            both ? Result<void>(Error(Code::InvalidArgs, "running and paused exclude each other"))
                 : success()),
        kRevert,
        [this, running = running && running.value(),
         paused = paused && paused.value()](const SharedResult<>& shared) {
            std::optional<bool> stayPaused;
            if (running || paused) {
                stayPaused = paused;
            }
            // The object may go while the revert runs (the domain is transient and stops).
            m_domain.revertToSnapshot(m_name, stayPaused,
                                      [shared](Result<void> r) { reply(shared, r); });
        });
}

void SnapshotObject::Delete(sdbus::Result<>&& result, Options options) {
    auto children = boolOption(options, "children", false);
    auto childrenOnly = boolOption(options, "children-only", false);
    auto metadataOnly = boolOption(options, "metadata-only", false);
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"children", "children-only", "metadata-only"}),
                            children, childrenOnly, metadataOnly),
        kDelete,
        [this,
         scope = DomainObject::SnapshotDeletion{
             .children = children && children.value(),
             .childrenOnly = childrenOnly && childrenOnly.value(),
             .metadataOnly = metadataOnly && metadataOnly.value()}](const SharedResult<>& shared) {
            // This object is gone once the snapshot is: the answer is from values.
            m_domain.deleteSnapshot(m_name, scope, [shared](Result<void> r) { reply(shared, r); });
        });
}

} // namespace virtswarm::hypervisor
