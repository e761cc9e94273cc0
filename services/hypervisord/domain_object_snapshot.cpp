// SPDX-License-Identifier: LGPL-2.1-or-later
// Snapshots, the Domain side: the domain's SnapshotSet (the metadata) and a SnapshotObject
// for each snapshot, listing them and deleting them. Taking one is in
// domain_object_snapshot_take.cpp, reverting in domain_object_snapshot_revert.cpp. One
// snapshot operation runs at a time per domain.
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "offline_snapshot.hpp"
#include "registry.hpp"
#include "snapshot_object.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <algorithm>

namespace virtswarm::hypervisor {

void DomainObject::loadSnapshots() {
    m_snapshots.load();
    for (const SnapshotDef* def : m_snapshots.all()) {
        addSnapshotObject(def->name);
    }
}

void DomainObject::addSnapshotObject(const std::string& name) {
    auto object = std::make_unique<SnapshotObject>(m_registry, *this, name);
    object->emitInterfacesAddedSignal();
    m_snapshotObjects[name] = std::move(object);
}

void DomainObject::removeSnapshotObject(const std::string& name) {
    auto it = m_snapshotObjects.find(name);
    if (it != m_snapshotObjects.end()) {
        service::announceRemoval(*it->second);
        m_snapshotObjects.erase(it);
    }
}

void DomainObject::makeCurrent(const std::string& name) {
    std::string before = m_snapshots.current();
    // The snapshot itself is kept already: a mark that cannot be written is logged, and
    // the previous current snapshot stays current.
    if (auto r = m_snapshots.setCurrent(name); !r) {
        log::error("cannot mark snapshot '" + name + "' current: " + r.error().message());
    }
    currentSnapshotChanged(before);
}

void DomainObject::currentSnapshotChanged(const std::string& before) {
    for (const std::string& name : {before, m_snapshots.current()}) {
        if (auto it = m_snapshotObjects.find(name); it != m_snapshotObjects.end()) {
            it->second->announce({"Current"});
        }
    }
}

Result<void> DomainObject::beginSnapshotOperation() {
    if (m_snapshotBusy) {
        return Error(Code::InvalidState,
                     "domain '" + def().name + "' has another snapshot operation in progress");
    }
    if (m_model.starting()) {
        return Error(Code::InvalidState, "domain '" + def().name + "' is starting");
    }
    m_snapshotBusy = true;
    return success();
}

void DomainObject::ListSnapshots(sdbus::Result<std::vector<SnapshotEntry>>&& result,
                                 Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), domainAction("ListSnapshots"),
                  [this](const SharedResult<std::vector<SnapshotEntry>>& shared) {
                      std::vector<SnapshotEntry> out;
                      for (const SnapshotDef* s : m_snapshots.all()) {
                          out.emplace_back(
                              sdbus::ObjectPath(snapshotObjectPath(getObjectPath(), s->name)),
                              s->name, s->parent, s->state, s->memory, s->creationTime,
                              s->name == m_snapshots.current(), isExternal(*s));
                      }
                      shared->returnResults(out);
                  });
}

void DomainObject::LookupSnapshot(sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                                  Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), domainAction("LookupSnapshot"),
                  [this, name](const SharedResult<sdbus::ObjectPath>& shared) {
                      if (m_snapshots.find(name) == nullptr) {
                          fail(shared, noSuchSnapshot(name));
                          return;
                      }
                      shared->returnResults(
                          sdbus::ObjectPath(snapshotObjectPath(getObjectPath(), name)));
                  });
}

Error DomainObject::noSuchSnapshot(const std::string& name) const {
    return Error(Code::NoSuchSnapshot,
                 "no domain snapshot with matching name '" + name + "' in '" + def().name + "'");
}

Result<std::string> DomainObject::snapshotXml(const std::string& name, bool secure) const {
    const SnapshotDef* snapshot = m_snapshots.find(name);
    if (snapshot == nullptr) {
        return noSuchSnapshot(name);
    }
    return formatSnapshotDef(*snapshot,
                             secure ? snapshot->domainXml : withoutSecrets(snapshot->domainXml));
}

void DomainObject::deleteSnapshot(const std::string& name, SnapshotDeletion scope,
                                  std::function<void(Result<void>)> done) {
    const SnapshotDef* found = m_snapshots.find(name);
    if (found == nullptr) {
        done(noSuchSnapshot(name));
        return;
    }
    if (m_model.state() != DomainState::Shutoff && m_model.state() != DomainState::Running &&
        m_model.state() != DomainState::Paused) {
        done(wrongState());
        return;
    }
    std::vector<std::string> doomed = m_snapshots.subtree(name); // children first
    if (!scope.children && !scope.childrenOnly) {
        doomed = {name};
    } else if (scope.childrenOnly) {
        doomed.pop_back(); // the snapshot itself is last
    }
    // As libvirt 9.0: merging an overlay back is not done; its metadata alone may go.
    auto external = std::count_if(doomed.begin(), doomed.end(), [this](const std::string& n) {
        return isExternal(*m_snapshots.find(n));
    });
    if (external > 0 && !scope.metadataOnly) {
        done(Error(Code::ConfigUnsupported, "deletion of " + std::to_string(external) +
                                                " external disk snapshots not supported yet"));
        return;
    }
    if (auto r = beginSnapshotOperation(); !r) {
        done(r);
        return;
    }
    auto guard = m_lifetime.guard();
    deleteSnapshotsFrom(std::move(doomed), 0, scope.metadataOnly,
                        [this, guard, name, scope, done](Result<void> r) {
                            if (!guard.alive()) {
                                done(Error(Code::NoSuchDomain, "domain removed"));
                                return;
                            }
                            m_snapshotBusy = false;
                            done(r);
                        });
}

void DomainObject::deleteSnapshotsFrom(std::vector<std::string> names, size_t index,
                                       bool metadataOnly, std::function<void(Result<void>)> done) {
    if (index == names.size()) {
        done(success());
        return;
    }
    std::string name = names[index];
    auto guard = m_lifetime.guard();
    auto forget = [this, guard, names, index, metadataOnly, done](Result<void> r) {
        if (!guard.alive()) {
            done(Error(Code::NoSuchDomain, "domain removed"));
            return;
        }
        if (!r) {
            done(r.takeError().prefix("cannot delete snapshot '" + names[index] + "'"));
            return;
        }
        if (auto removed = forgetSnapshot(names[index]); !removed) {
            done(removed);
            return;
        }
        deleteSnapshotsFrom(names, index + 1, metadataOnly, done);
    };
    if (metadataOnly) {
        // Never within the call: the Snapshot object being deleted may be the one whose
        // method is still being dispatched.
        m_registry.loop().defer([forget]() mutable { forget(success()); });
    } else if (active()) {
        m_registry.shims().callVoid(uuidHex(), "SnapshotDelete", kSnapshotTimeout,
                                    std::move(forget), name, Options{});
    } else {
        runOfflineSnapshot(m_registry.loop(), m_model.domain(), OfflineSnapshotOp::Delete, name,
                           std::move(forget));
    }
}

Result<void> DomainObject::forgetSnapshot(const std::string& name) {
    const SnapshotDef* snapshot = m_snapshots.find(name);
    if (snapshot == nullptr) {
        return success();
    }
    std::string parent = snapshot->parent;
    // Its children (if any are left) move up to its parent, and so does "current".
    for (const std::string& child : m_snapshots.children(name)) {
        SnapshotDef moved = *m_snapshots.find(child);
        moved.parent = parent;
        if (auto r = m_snapshots.put(std::move(moved)); !r) {
            return r;
        }
        if (auto it = m_snapshotObjects.find(child); it != m_snapshotObjects.end()) {
            it->second->announce({"Parent"});
        }
    }
    std::string before = m_snapshots.current();
    if (before == name) {
        if (auto r = m_snapshots.setCurrent(parent); !r) {
            return r;
        }
    }
    if (auto r = m_snapshots.remove(name); !r) {
        return r;
    }
    removeSnapshotObject(name);
    currentSnapshotChanged(before);
    return success();
}

Result<void> DomainObject::forgetAllSnapshots() {
    for (const SnapshotDef* def : m_snapshots.all()) {
        removeSnapshotObject(def->name);
    }
    return m_snapshots.removeAll();
}

} // namespace virtswarm::hypervisor
