// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/definition_store.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace virtswarm {

std::string DefinitionStore::pathFor(const UuidBytes& uuid) const {
    return m_dir + "/" + formatUuid(uuid) + ".xml";
}

std::string DefinitionStore::autostartPathFor(const UuidBytes& uuid) const {
    return m_dir + "/autostart/" + formatUuid(uuid);
}

bool DefinitionStore::autostartSet(const UuidBytes& uuid) const {
    std::error_code ec;
    return fs::exists(autostartPathFor(uuid), ec);
}

void DefinitionStore::forEachFile(
    const std::function<std::string(const std::string&, const std::string&)>& visit) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_dir, ec)) {
        const auto path = entry.path();
        if (!entry.is_regular_file() || path.extension() != ".xml" ||
            path.filename().string()[0] == '.') {
            continue;
        }
        auto text = readFile(path.string());
        std::string problem =
            text ? visit(path.stem().string(), text.value()) : text.error().message();
        if (problem.empty()) {
            continue;
        }
        auto rejectedDir = m_dir + "/rejected";
        (void)makeDirectories(rejectedDir, 0700);
        auto target = rejectedDir + "/" + path.filename().string();
        std::rename(path.c_str(), target.c_str());
        log::error("definition " + path.string() + " rejected (" + problem + "); kept as " +
                   target);
    }
}

Result<void> DefinitionStore::makeDirectory() {
    if (!m_dirReady) {
        if (auto r = makeDirectories(m_dir, 0755); !r) {
            return r;
        }
        m_dirReady = true;
    }
    return success();
}

Result<void> DefinitionStore::save(const UuidBytes& uuid, const std::string& xml) {
    if (auto r = makeDirectory(); !r) {
        return r;
    }
    return writeFileAtomic(pathFor(uuid), xml, 0600);
}

FileChange DefinitionStore::saveChange(const UuidBytes& uuid, const std::string& xml) const {
    return FileChange{pathFor(uuid), xml, 0600};
}

// The autostart marker first: a crash in between leaves a definition that does not
// autostart, never a marker without a definition.
std::vector<FileChange> DefinitionStore::removeChanges(const UuidBytes& uuid) const {
    return {FileChange{autostartPathFor(uuid), std::nullopt, 0644},
            FileChange{pathFor(uuid), std::nullopt, 0600}};
}

Result<void> DefinitionStore::remove(const UuidBytes& uuid) {
    if (auto r = setAutostart(uuid, false); !r) {
        return r;
    }
    return removeFileDurable(pathFor(uuid));
}

Result<void> DefinitionStore::setAutostart(const UuidBytes& uuid, bool autostart) {
    if (!autostart) {
        return removeFileDurable(autostartPathFor(uuid));
    }
    if (auto r = makeDirectories(m_dir + "/autostart", 0755); !r) {
        return r;
    }
    return writeFileAtomic(autostartPathFor(uuid), "", 0644);
}

} // namespace virtswarm
