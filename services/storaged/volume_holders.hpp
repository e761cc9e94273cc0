// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace virtswarm::storage {

// Which volumes are handed out to whom (OpenVolume): a VM's shim, by its unique bus name,
// for one domain. A volume with a holder cannot be deleted, wiped or shrunk (libvirt's
// "storage volume '%s' is in use"). Holds end on the shim's Release, or when its bus name
// vanishes; they are recorded in a file (written atomically) so a restarted storaged still
// knows them, and drops those whose holder is gone (forget()).
class VolumeHolders {
public:
    struct Hold {
        std::string holder; // unique bus name, ":1.42"
        std::string domain; // the domain's UUID as the shim gave it
        std::string path;   // the volume's path (its key)
        auto operator<=>(const Hold&) const = default;
    };

    // `file`: where holds are recorded (empty: nowhere, for tests of the model).
    explicit VolumeHolders(std::string file);

    // Reads the recorded holds (a malformed line is dropped, never trusted).
    void load();
    Result<void> add(Hold hold);
    // The holder's holds for the domain; only the one of `path` when it is not empty.
    // Returns how many ended.
    size_t release(const std::string& holder, const std::string& domain, const std::string& path);
    // Every hold of a holder whose bus name vanished.
    size_t forget(const std::string& holder);
    // The distinct holders, to check after a restart which of them still exist.
    std::vector<std::string> holders() const;

    // InvalidState "storage volume '<name>' is in use" when anyone holds `path`.
    Result<void> checkNotInUse(const std::string& path, const std::string& volumeName) const;
    bool inUse(const std::string& path) const;
    const std::set<Hold>& all() const { return m_holds; }

private:
    void save();

    std::string m_file;
    std::set<Hold> m_holds;
};

// Bounded and plain: a unique bus name (":" then dots and digits), a UUID (hex and
// dashes), an absolute path without newlines. Anything else is InvalidArgs.
Result<void> checkHold(const VolumeHolders::Hold& hold);

} // namespace virtswarm::storage
