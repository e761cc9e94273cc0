// SPDX-License-Identifier: LGPL-2.1-or-later
// Rename (libvirt's virDomainRename, virsh domrename): a stopped persistent domain takes
// another name. Its object path, definition file and autostart link are keyed by UUID
// and stay; the name index, the Name property and the lifecycle events follow.
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "virtswarm/domain_tuning.hpp"

namespace virtswarm::hypervisor {
namespace {

// libvirt's VIR_DOMAIN_EVENT_UNDEFINED_RENAMED and VIR_DOMAIN_EVENT_DEFINED_RENAMED.
constexpr LifecycleEvent kEventUndefinedRenamed{1, 1};
constexpr LifecycleEvent kEventDefinedRenamed{0, 2};

} // namespace

Result<DomainXml> DomainObject::renamedDefinition(const std::string& name) const {
    // libvirt's refusals, in its order and words.
    if (active()) {
        return Error(Code::InvalidState, "cannot rename active domain");
    }
    if (!m_model.persistent()) {
        return Error(Code::InvalidState, "cannot rename a transient domain");
    }
    if (m_model.hasManagedSave()) {
        return Error(Code::InvalidState, "domain with a managed saved state can't be renamed");
    }
    // A snapshot keeps the definition under the old name: a revert would bring it back.
    if (!m_snapshots.empty()) {
        return Error(Code::InvalidState, "cannot rename domain with snapshots");
    }
    const FirmwareDef& firmware = def().platform.firmware;
    if (firmware.efi && (firmware.nvram.empty() || firmware.nvramInStateDir)) {
        // The per-VM NVRAM file is named after the domain.
        return Error(Code::OperationUnsupported, "cannot rename domain with nvram");
    }
    if (name == def().name) {
        return Error(Code::InvalidState, "Can't rename domain to itself");
    }
    if (m_registry.nameTaken(name, def().uuid)) {
        return Error(Code::DomainExists, "domain with name '" + name + "' already exists");
    }
    return withName(m_model.domain(), name);
}

void DomainObject::Rename(sdbus::Result<>&& result, std::string name, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), domainAction("Rename"),
                  [this, name](const SharedResult<>& shared) {
                      auto renamed = renamedDefinition(name);
                      if (!renamed) {
                          reply(shared, renamed.error());
                          return;
                      }
                      DomainXml next = std::move(renamed).value();
                      // The new name is held while the definition is on its way to the disk.
                      m_registry.reserve(next.def);
                      auto guard = m_lifetime.guard();
                      m_registry.store().save(
                          next, [this, guard, shared, next](Result<void> saved) {
                              if (!guard.alive()) {
                                  reply(shared, saved);
                                  return;
                              }
                              m_registry.release(next.def);
                              if (saved) {
                                  // As libvirt: the old name goes, then the new one comes.
                                  m_registry.emitLifecycle(*this, kEventUndefinedRenamed);
                                  m_registry.renamed(next.def.uuid, next.def.name);
                                  m_model.redefine(next);
                                  m_registry.emitLifecycle(*this, kEventDefinedRenamed);
                              }
                              reply(shared, saved);
                          });
                  });
}

} // namespace virtswarm::hypervisor
