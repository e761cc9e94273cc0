// SPDX-License-Identifier: LGPL-2.1-or-later
// Reverting a domain to an internal snapshot: as libvirt 9.0, a running domain stops
// first; a new QEMU starts from the snapshot's memory, or (a shut-off snapshot) qemu-img
// puts its disks back. The definition it was taken with becomes the domain's again. The
// events are libvirt's: STOPPED/FROM_SNAPSHOT, the start's STARTED/FROM_SNAPSHOT with
// RESUMED or SUSPENDED/FROM_SNAPSHOT, and DEFINED/FROM_SNAPSHOT last.
#include "domain_object.hpp"
#include "offline_snapshot.hpp"
#include "registry.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::hypervisor {
namespace {

// Two definitions are the same domain configuration if libxml2 prints them alike (the
// snapshot keeps its copy reformatted).
bool sameDefinition(const std::string& a, const std::string& b) {
    auto docA = xml::Document::parse(a);
    auto docB = xml::Document::parse(b);
    return docA && docB && docA.value().serialize() == docB.value().serialize();
}

} // namespace

void DomainObject::revertToSnapshot(const std::string& name, std::optional<bool> paused,
                                    std::function<void(Result<void>)> done) {
    const SnapshotDef* found = m_snapshots.find(name);
    if (found == nullptr) {
        done(noSuchSnapshot(name));
        return;
    }
    // As libvirt 9.0: the overlays would have to be dropped and the images made current.
    if (isExternal(*found)) {
        done(Error(Code::ConfigUnsupported, "revert to external snapshot not supported yet"));
        return;
    }
    if (auto r = beginSnapshotOperation(); !r) {
        done(r);
        return;
    }
    SnapshotDef snapshot = *found;
    auto guard = m_lifetime.guard();
    auto finish = [this, guard, name, done](Result<void> r) {
        if (!guard.alive()) {
            done(Error(Code::NoSuchDomain, "domain removed"));
            return;
        }
        m_snapshotBusy = false;
        if (r) {
            makeCurrent(name);
            if (m_model.persistent()) {
                m_registry.emitLifecycle(*this, kEventDefinedFromSnapshot);
            }
            log::info("domain '" + def().name + "' reverted to snapshot '" + name + "'");
        }
        done(r ? success() : Result<void>(r.takeError().prefix("revert to '" + name + "'")));
    };
    // The state the guest was saved in will be the guest's: a managed save of a later
    // state is obsolete.
    if (auto r = m_model.removeManagedSave(); !r) {
        finish(r);
        return;
    }
    // A running domain stops first (libvirt 9.0 no longer loads a snapshot into the
    // running QEMU), and the revert goes on from a shut-off domain.
    auto stopped = [this, guard, snapshot, paused, finish](Result<void> r) {
        if (!guard.alive() || !r) {
            finish(r);
            return;
        }
        revertStopped(snapshot, paused, finish);
    };
    if (active()) {
        m_model.destroy(stopped, DomainReason::FromSnapshot);
        return;
    }
    stopped(success());
}

void DomainObject::revertStopped(const SnapshotDef& snapshot, std::optional<bool> paused,
                                 std::function<void(Result<void>)> done) {
    auto guard = m_lifetime.guard();
    restoreSnapshotDefinition(snapshot, [this, guard, snapshot, paused, done](Result<void> r) {
        if (!guard.alive() || !r) {
            done(r);
            return;
        }
        if (snapshot.state != "shutoff") {
            // -loadvm brings the disks back with the memory.
            StartOptions how;
            how.paused = paused.value_or(snapshot.state == "paused");
            how.loadSnapshot = snapshot.name;
            how.fromSnapshot = true;
            m_model.start(done, how);
            return;
        }
        runOfflineSnapshot(m_registry.loop(), m_model.domain(), OfflineSnapshotOp::Apply,
                           snapshot.name, [this, guard, paused, done](Result<void> applied) {
                               // A shut-off snapshot stays shut off unless asked to run.
                               if (!guard.alive() || !applied || !paused) {
                                   done(applied);
                                   return;
                               }
                               StartOptions how;
                               how.paused = *paused;
                               how.fromSnapshot = true;
                               m_model.start(done, how);
                           });
    });
}

void DomainObject::restoreSnapshotDefinition(const SnapshotDef& snapshot,
                                             std::function<void(Result<void>)> done) {
    if (sameDefinition(snapshot.domainXml, m_model.domain().xml)) {
        done(success());
        return;
    }
    auto parsed = parseDomainXml(snapshot.domainXml);
    if (!parsed) {
        done(parsed.takeError().prefix("the snapshot's definition"));
        return;
    }
    DomainXml domain = std::move(parsed.value());
    if (domain.def.name != def().name || domain.def.uuid != def().uuid) {
        done(Error(Code::InvalidState,
                   "snapshot '" + snapshot.name + "' holds the definition of another domain"));
        return;
    }
    domain.definer = m_model.domain().definer;
    if (!m_model.persistent()) {
        m_model.redefine(std::move(domain));
        done(success());
        return;
    }
    auto guard = m_lifetime.guard();
    m_registry.store().save(domain, [this, guard, domain, done](Result<void> saved) {
        if (saved && guard.alive()) {
            m_model.redefine(domain);
        }
        done(saved);
    });
}

} // namespace virtswarm::hypervisor
