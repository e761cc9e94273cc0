// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_store.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::hypervisor {

std::string DomainStore::definerPathFor(const UuidBytes& uuid) const {
    return m_store.dir() + "/definers/" + formatUuid(uuid);
}

std::vector<DefinitionStore::Loaded<DomainXml>> DomainStore::loadAll() {
    return m_store.loadAll<DomainXml>(
        [this](const std::string& text) -> Result<DomainXml> {
            auto parsed = parseDomainXml(text);
            if (!parsed) {
                return parsed;
            }
            DomainXml domain = std::move(parsed).value();
            auto record = readFile(definerPathFor(domain.def.uuid), 256);
            if (!record) {
                domain.definer = 0;
                return domain;
            }
            // The record names the file's text: what was written, byte for byte.
            auto definer = parseDefinerRecord(record.value(), text);
            if (!definer) {
                log::warning("domain '" + domain.def.name + "': " + definer.error().message() +
                             "; it runs with the rights of nobody until redefined");
            }
            domain.definer = definer ? definer.value() : kUnknownDefiner;
            return domain;
        },
        [](const DomainXml& d) { return d.def.uuid; });
}

Result<void> DomainStore::makeDirectories() {
    if (auto r = m_store.makeDirectory(); !r || m_definersDirReady) {
        return r;
    }
    if (auto r = virtswarm::makeDirectories(m_store.dir() + "/definers", 0755); !r) {
        return r;
    }
    m_definersDirReady = true;
    return success();
}

void DomainStore::save(const DomainXml& domain, Done done) {
    if (auto r = makeDirectories(); !r) {
        done(std::move(r));
        return;
    }
    m_commits.commit({FileChange{definerPathFor(domain.def.uuid),
                                 formatDefinerRecord(domain.definer, domain.xml), 0600},
                      m_store.saveChange(domain.def.uuid, domain.xml)},
                     std::move(done));
}

void DomainStore::remove(const UuidBytes& uuid, Done done) {
    auto changes = m_store.removeChanges(uuid);
    changes.push_back(FileChange{definerPathFor(uuid), std::nullopt, 0600});
    m_commits.commit(std::move(changes), std::move(done));
}

} // namespace virtswarm::hypervisor
