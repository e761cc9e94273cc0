// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/definition_store.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/service/commit_queue.hpp"

#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// Persistent domain definitions: <configDir>/<uuid>.xml (see DefinitionStore), and who
// defined each in <configDir>/definers/<uuid> (virtswarm/definer.hpp). Saves and removals
// are group-committed: concurrent ones share their syncs (service::CommitQueue), and
// each is on disk, file and directory, before its `done` runs.
class DomainStore {
public:
    using Done = service::CommitQueue::Done;

    DomainStore(std::string configDir, EventLoop& loop)
        : m_store(std::move(configDir))
        , m_commits(loop) {}

    // Each definition with its definer: root when no record exists (definitions made
    // before definers were recorded were made by root, the only one who could write the
    // directory); nobody when the record belongs to another XML.
    std::vector<DefinitionStore::Loaded<DomainXml>> loadAll();
    // The definer record first: a crash between the two writes leaves a record that
    // does not match the XML, which loads as nobody, never as someone more privileged.
    void save(const DomainXml& domain, Done done);
    void remove(const UuidBytes& uuid, Done done);
    Result<void> setAutostart(const UuidBytes& uuid, bool autostart) {
        return m_store.setAutostart(uuid, autostart);
    }

private:
    std::string definerPathFor(const UuidBytes& uuid) const;
    // The store's directories, made on the first save rather than tried on every one.
    Result<void> makeDirectories();

    DefinitionStore m_store;
    service::CommitQueue m_commits;
    bool m_definersDirReady = false;
};

} // namespace virtswarm::hypervisor
