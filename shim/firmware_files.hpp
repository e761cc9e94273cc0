// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/host_path_opener.hpp"

#include <string>

namespace virtswarm::shim {

// For a domain about to start with UEFI firmware: resolves the loader and NVRAM
// (virtswarm/firmware.hpp), creates the VM's NVRAM file from its template if it does not
// exist yet, and shows both in the live XML. The template ends up readable by the guest,
// so the definer must be able to read it; an NVRAM file at a path the definer named is
// created with the definer's rights, the per-VM one in `nvramDir` with the shim's own.
Result<void> prepareFirmwareFor(DomainXml& domain, const std::string& nvramDir,
                                const HostPathOpener& opener);

} // namespace virtswarm::shim
