// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace virtswarm::nodedev {

// The sysfs tree nodedevd reads and writes: /sys on a host, a directory the test built
// (a fake tree) in tests. Every path here is relative to the root ("bus/pci/devices").
class Sysfs {
public:
    explicit Sysfs(std::string root);

    const std::string& root() const { return m_root; }
    bool isRealSysfs() const { return m_root == "/sys"; }

    std::string absolute(const std::string& relative) const;
    // A sysfs attribute, trailing newline removed; nullopt if absent or unreadable.
    // Attributes are small; anything beyond 64 KiB is not an attribute and is cut.
    std::optional<std::string> read(const std::string& relative) const;
    std::optional<long long> readNumber(const std::string& relative) const;
    // The last element of a symlink's target ("driver" -> "virtio-pci"); empty if none.
    std::string linkName(const std::string& relative) const;
    bool exists(const std::string& relative) const;
    // The entries of a directory, sorted; empty if absent.
    std::vector<std::string> list(const std::string& relative) const;
    // The resolved path of an entry (symlinks followed), relative to the root; empty if it
    // does not resolve inside the root.
    std::string resolve(const std::string& relative) const;
    // Writes an attribute the way the kernel expects: one write() of the whole value to
    // the existing file (not atomic_file.hpp's rename: sysfs files cannot be replaced).
    Result<void> write(const std::string& relative, const std::string& value) const;

private:
    std::string m_root;
    std::string m_resolvedRoot;
};

} // namespace virtswarm::nodedev
