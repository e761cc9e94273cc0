// SPDX-License-Identifier: LGPL-2.1-or-later
#include "snapshot_set.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <filesystem>

namespace virtswarm::hypervisor {
namespace {

constexpr const char* kCurrentFile = "current";

} // namespace

std::string SnapshotSet::fileFor(const std::string& name) const {
    return m_dir + "/" + escapePathElement(name) + ".xml";
}

void SnapshotSet::load() {
    std::error_code ec;
    if (!std::filesystem::is_directory(m_dir, ec)) {
        return;
    }
    for (const auto& entry : std::filesystem::directory_iterator(m_dir, ec)) {
        const auto path = entry.path();
        if (path.extension() != ".xml" || path.filename().string().front() == '.') {
            continue;
        }
        auto text = readFile(path.string());
        auto def = text ? parseSnapshotDef(text.value()) : Result<SnapshotDef>(text.takeError());
        if (!def || fileFor(def.value().name) != path.string()) {
            log::error(
                "skipping snapshot metadata " + path.string() + ": " +
                (def ? std::string("its name does not match the file") : def.error().message()));
            continue;
        }
        std::string name = def.value().name;
        m_snapshots.emplace(name, std::move(def.value()));
    }
    if (auto current = readFile(m_dir + "/" + kCurrentFile, 1024);
        current && m_snapshots.count(current.value()) > 0) {
        m_current = current.value();
    }
}

const SnapshotDef* SnapshotSet::find(const std::string& name) const {
    auto it = m_snapshots.find(name);
    return it == m_snapshots.end() ? nullptr : &it->second;
}

std::vector<const SnapshotDef*> SnapshotSet::all() const {
    std::vector<const SnapshotDef*> out;
    for (const auto& [name, def] : m_snapshots) {
        out.push_back(&def);
    }
    // Creation order puts parents first, as long as the clock did not go back; a parent
    // always precedes its children in the result regardless.
    std::stable_sort(out.begin(), out.end(), [](const SnapshotDef* a, const SnapshotDef* b) {
        return a->creationTime < b->creationTime;
    });
    std::vector<const SnapshotDef*> ordered;
    std::vector<std::string> placed;
    auto isPlaced = [&placed](const std::string& name) {
        return std::find(placed.begin(), placed.end(), name) != placed.end();
    };
    while (ordered.size() < out.size()) {
        size_t before = ordered.size();
        for (const SnapshotDef* def : out) {
            if (!isPlaced(def->name) &&
                (def->parent.empty() || find(def->parent) == nullptr || isPlaced(def->parent))) {
                ordered.push_back(def);
                placed.push_back(def->name);
            }
        }
        if (ordered.size() == before) { // a cycle in hand-edited files: keep the rest as is
            for (const SnapshotDef* def : out) {
                if (!isPlaced(def->name)) {
                    ordered.push_back(def);
                    placed.push_back(def->name);
                }
            }
        }
    }
    return ordered;
}

std::vector<std::string> SnapshotSet::children(const std::string& name) const {
    std::vector<const SnapshotDef*> found;
    for (const auto& [childName, def] : m_snapshots) {
        if (def.parent == name && childName != name) {
            found.push_back(&def);
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const SnapshotDef* a, const SnapshotDef* b) {
        return a->creationTime < b->creationTime;
    });
    std::vector<std::string> out;
    for (const SnapshotDef* def : found) {
        out.push_back(def->name);
    }
    return out;
}

std::vector<std::string> SnapshotSet::subtree(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& child : children(name)) {
        auto below = subtree(child);
        out.insert(out.end(), below.begin(), below.end());
    }
    out.push_back(name);
    return out;
}

Result<void> SnapshotSet::put(SnapshotDef def) {
    if (auto r = makeDirectories(m_dir, 0700); !r) {
        return r;
    }
    if (auto r = writeFileAtomic(fileFor(def.name), formatSnapshotDef(def, def.domainXml)); !r) {
        return r;
    }
    std::string name = def.name;
    m_snapshots.insert_or_assign(name, std::move(def));
    return success();
}

Result<void> SnapshotSet::setCurrent(const std::string& name) {
    if (name == m_current) {
        return success();
    }
    auto r = name.empty() ? removeFileDurable(m_dir + "/" + kCurrentFile)
                          : writeFileAtomic(m_dir + "/" + kCurrentFile, name);
    if (!r) {
        return r;
    }
    m_current = name;
    return success();
}

Result<void> SnapshotSet::remove(const std::string& name) {
    if (m_snapshots.count(name) == 0) {
        return success();
    }
    if (name == m_current) {
        if (auto r = setCurrent(""); !r) {
            return r;
        }
    }
    if (auto r = removeFileDurable(fileFor(name)); !r) {
        return r;
    }
    m_snapshots.erase(name);
    return success();
}

Result<void> SnapshotSet::removeAll() {
    while (!m_snapshots.empty()) {
        if (auto r = remove(m_snapshots.begin()->first); !r) {
            return r;
        }
    }
    std::error_code ec;
    std::filesystem::remove(m_dir, ec);
    return success();
}

} // namespace virtswarm::hypervisor
