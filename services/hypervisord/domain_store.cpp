// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_store.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace virtswarm::hypervisor {

DomainStore::DomainStore(std::string configDir) : m_dir(std::move(configDir)) {}

std::string DomainStore::pathFor(const UuidBytes& uuid) const {
    return m_dir + "/" + formatUuid(uuid) + ".xml";
}

std::string DomainStore::autostartPathFor(const UuidBytes& uuid) const {
    return m_dir + "/autostart/" + formatUuid(uuid);
}

std::vector<StoredDomain> DomainStore::loadAll() {
    std::vector<StoredDomain> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_dir, ec)) {
        const auto path = entry.path();
        if (!entry.is_regular_file() || path.extension() != ".xml" ||
            path.filename().string()[0] == '.') {
            continue;
        }
        auto text = readFile(path.string());
        Result<DomainXml> parsed = text ? parseDomainXml(text.value()) : Result<DomainXml>(text.takeError());
        std::string problem;
        if (!parsed) {
            problem = parsed.error().message();
        } else if (path.stem() != formatUuid(parsed.value().def.uuid)) {
            problem = "file name does not match its <uuid>";
        }
        if (!problem.empty()) {
            auto rejectedDir = m_dir + "/rejected";
            (void)makeDirectories(rejectedDir, 0700);
            auto target = rejectedDir + "/" + path.filename().string();
            std::rename(path.c_str(), target.c_str());
            log::error("definition " + path.string() + " rejected (" + problem + "); kept as " +
                       target);
            continue;
        }
        StoredDomain stored{std::move(parsed).value(), false};
        stored.autostart = fs::exists(autostartPathFor(stored.domain.def.uuid), ec);
        out.push_back(std::move(stored));
    }
    return out;
}

Result<void> DomainStore::save(const DomainXml& domain) {
    if (auto r = makeDirectories(m_dir, 0755); !r) {
        return r;
    }
    return writeFileAtomic(pathFor(domain.def.uuid), domain.xml, 0600);
}

Result<void> DomainStore::remove(const UuidBytes& uuid) {
    if (auto r = setAutostart(uuid, false); !r) {
        return r;
    }
    return removeFileDurable(pathFor(uuid));
}

Result<void> DomainStore::setAutostart(const UuidBytes& uuid, bool autostart) {
    if (!autostart) {
        return removeFileDurable(autostartPathFor(uuid));
    }
    if (auto r = makeDirectories(m_dir + "/autostart", 0755); !r) {
        return r;
    }
    return writeFileAtomic(autostartPathFor(uuid), "", 0644);
}

} // namespace virtswarm::hypervisor
