// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// A UEFI domain's NVRAM file (its firmware variables) outlives the domain's runs but not
// necessarily its definition. As libvirt, undefining a domain whose NVRAM file exists
// needs the caller to say what becomes of it: removed (VIR_DOMAIN_UNDEFINE_NVRAM, option
// "nvram") or kept (VIR_DOMAIN_UNDEFINE_KEEP_NVRAM, option "keep-nvram").
#include "virtswarm/domain_def.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

namespace virtswarm::hypervisor {

enum class NvramOnUndefine { Ask, Remove, Keep };

// From the options' two flags. Error: InvalidState for both (libvirt: OPERATION_INVALID,
// "cannot both keep and delete nvram").
Result<NvramOnUndefine> nvramOnUndefine(bool remove, bool keep);

// Carried out before the definition goes, so a refusal changes nothing. Ask with an
// existing NVRAM file is InvalidState ("cannot undefine domain with nvram"); Remove
// unlinks it (OperationFailed if that fails). The per-VM file in the swarm's state dir
// is the registry's own; a path the definer named is removed only when it is a regular
// file the definer owns (AccessDenied otherwise), as the registry runs as root and must
// not delete for a user what that user could not.
Result<void> settleNvram(const DomainXml& domain, BusMode mode, NvramOnUndefine what);

} // namespace virtswarm::hypervisor
