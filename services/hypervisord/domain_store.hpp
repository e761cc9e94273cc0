// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/definition_store.hpp"
#include "virtswarm/domain_def.hpp"

#include <string>
#include <vector>

namespace virtswarm::hypervisor {

// Persistent domain definitions: <configDir>/<uuid>.xml (see DefinitionStore).
class DomainStore {
public:
    explicit DomainStore(std::string configDir)
        : m_store(std::move(configDir)) {}

    std::vector<DefinitionStore::Loaded<DomainXml>> loadAll() {
        return m_store.loadAll<DomainXml>(
            [](const std::string& text) { return parseDomainXml(text); },
            [](const DomainXml& d) { return d.def.uuid; });
    }
    Result<void> save(const DomainXml& domain) { return m_store.save(domain.def.uuid, domain.xml); }
    Result<void> remove(const UuidBytes& uuid) { return m_store.remove(uuid); }
    Result<void> setAutostart(const UuidBytes& uuid, bool autostart) {
        return m_store.setAutostart(uuid, autostart);
    }

private:
    DefinitionStore m_store;
};

} // namespace virtswarm::hypervisor
