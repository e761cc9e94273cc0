// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/result.hpp"

#include <string>
#include <vector>

namespace virtswarm::hypervisor {

struct StoredDomain {
    DomainXml domain;
    bool autostart = false;
};

// Persistent definitions: <configDir>/<uuid>.xml, written atomically. Autostart is a
// marker file <configDir>/autostart/<uuid>, as libvirt keeps it outside the XML.
class DomainStore {
public:
    explicit DomainStore(std::string configDir);

    // Loads every definition. A file that fails to parse is moved to
    // <configDir>/rejected/ (never deleted) and reported in the log.
    std::vector<StoredDomain> loadAll();

    Result<void> save(const DomainXml& domain);
    Result<void> remove(const UuidBytes& uuid);
    Result<void> setAutostart(const UuidBytes& uuid, bool autostart);

private:
    std::string pathFor(const UuidBytes& uuid) const;
    std::string autostartPathFor(const UuidBytes& uuid) const;
    std::string m_dir;
};

} // namespace virtswarm::hypervisor
