// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <functional>
#include <string>
#include <vector>

namespace virtswarm {

// Persistent definitions of one kind of object (domains, networks, ...):
// <dir>/<uuid>.xml written atomically, and autostart as a marker file
// <dir>/autostart/<uuid> kept outside the XML, as libvirt does.
class DefinitionStore {
public:
    explicit DefinitionStore(std::string dir)
        : m_dir(std::move(dir)) {}

    template <typename T> struct Loaded {
        T definition;
        bool autostart;
    };

    // Loads every definition with `parse`. A file that fails to parse, or whose <uuid>
    // does not match its name, is moved to <dir>/rejected/ (never deleted) and logged.
    template <typename T>
    std::vector<Loaded<T>> loadAll(const std::function<Result<T>(const std::string&)>& parse,
                                   const std::function<UuidBytes(const T&)>& uuidOf) {
        std::vector<Loaded<T>> out;
        forEachFile([&](const std::string& stem, const std::string& text) -> std::string {
            auto parsed = parse(text);
            if (!parsed) {
                return parsed.error().message();
            }
            UuidBytes uuid = uuidOf(parsed.value());
            if (stem != formatUuid(uuid)) {
                return "file name does not match its <uuid>";
            }
            out.push_back(Loaded<T>{std::move(parsed).value(), autostartSet(uuid)});
            return {};
        });
        return out;
    }

    Result<void> save(const UuidBytes& uuid, const std::string& xml);
    Result<void> remove(const UuidBytes& uuid);
    // The same as file changes, for a caller that makes many durable at once
    // (service::CommitQueue). The directory must exist: makeDirectory() first, once.
    Result<void> makeDirectory();
    FileChange saveChange(const UuidBytes& uuid, const std::string& xml) const;
    std::vector<FileChange> removeChanges(const UuidBytes& uuid) const;
    Result<void> setAutostart(const UuidBytes& uuid, bool autostart);
    bool autostartSet(const UuidBytes& uuid) const;
    const std::string& dir() const { return m_dir; }

private:
    // Calls `visit(uuid text, content)` for each definition file; a non-empty return is
    // the reason to reject that file.
    void
    forEachFile(const std::function<std::string(const std::string&, const std::string&)>& visit);
    std::string pathFor(const UuidBytes& uuid) const;
    std::string autostartPathFor(const UuidBytes& uuid) const;

    std::string m_dir;
    bool m_dirReady = false; // created once, not on every save
};

} // namespace virtswarm
