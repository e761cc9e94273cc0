// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "save_image.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/result.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

// A save file named by a caller (Domain.Save, Manager.Restore, SaveImageGetXML,
// SaveImageDefineXML): the options they share, and the file opened with the rights of
// the user the call acts for, never the registry's.
namespace virtswarm::hypervisor {

struct SaveFileOptions {
    std::optional<std::string> xml; // "xml": a definition to use instead of the image's
    // "running" (true) or "paused" (false): how a restore leaves the guest; nullopt: as
    // the image says (Save: as the guest is now).
    std::optional<bool> running;
    bool bypassCache = false; // "bypass-cache"
    bool secure = false;      // "secure" (SaveImageGetXML)
    // "uuid": the image must hold this domain. A caller that checked the image's domain
    // before asking (the libvirt bridge asks polkit about its client) names it, so a file
    // replaced in between is refused instead of acted on.
    std::optional<UuidBytes> expectedUuid;
};

// The options, of which only `allowed` may appear ("definer-uid" is always allowed).
Result<SaveFileOptions> saveFileOptions(const Options& options, std::vector<const char*> allowed);

// InvalidArgs if the image's domain is not the one `options` expects.
Result<void> checkExpectedDomain(const SaveFileOptions& options, const DomainDef& saved);

// An absolute path without NUL bytes, at most PATH_MAX long.
Result<void> checkSavePath(const std::string& path);

// `xml`, given to stand for the saved domain: it must parse and keep its name and UUID
// (ConfigUnsupported, as libvirt's ABI check).
Result<DomainXml> sameDomainXml(const std::string& xml, const DomainDef& saved);

// Opens the save file for `user` (uid 0: the registry's own rights): for writing it is
// created or emptied, and refused if it is not a regular file of that user or is
// reached through a symbolic link (as a serial log); for reading it must be a regular
// file the user may read. AccessDenied names the path.
Result<int> openSaveFileForWrite(uid_t user, const std::string& path);
Result<int> openSaveFileForRead(uid_t user, const std::string& path, bool forUpdate = false);

} // namespace virtswarm::hypervisor
