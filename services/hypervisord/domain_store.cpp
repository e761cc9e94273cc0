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

Result<void> DomainStore::save(const DomainXml& domain) {
    if (auto r = makeDirectories(m_store.dir() + "/definers", 0755); !r) {
        return r;
    }
    if (auto r = writeFileAtomic(definerPathFor(domain.def.uuid),
                                 formatDefinerRecord(domain.definer, domain.xml), 0600);
        !r) {
        return r;
    }
    return m_store.save(domain.def.uuid, domain.xml);
}

Result<void> DomainStore::remove(const UuidBytes& uuid) {
    if (auto r = m_store.remove(uuid); !r) {
        return r;
    }
    return removeFileDurable(definerPathFor(uuid));
}

} // namespace virtswarm::hypervisor
