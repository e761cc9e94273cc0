// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/definition_store.hpp"
#include "virtswarm/domain_def.hpp"

#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// Persistent domain definitions: <configDir>/<uuid>.xml (see DefinitionStore), and who
// defined each in <configDir>/definers/<uuid> (virtswarm/definer.hpp).
class DomainStore {
public:
    explicit DomainStore(std::string configDir)
        : m_store(std::move(configDir)) {}

    // Each definition with its definer: root when no record exists (definitions made
    // before definers were recorded were made by root, the only one who could write the
    // directory); nobody when the record belongs to another XML.
    std::vector<DefinitionStore::Loaded<DomainXml>> loadAll();
    // The definer record first: a crash between the two writes leaves a record that
    // does not match the XML, which loads as nobody, never as someone more privileged.
    Result<void> save(const DomainXml& domain);
    Result<void> remove(const UuidBytes& uuid);
    Result<void> setAutostart(const UuidBytes& uuid, bool autostart) {
        return m_store.setAutostart(uuid, autostart);
    }

private:
    std::string definerPathFor(const UuidBytes& uuid) const;

    DefinitionStore m_store;
};

} // namespace virtswarm::hypervisor
