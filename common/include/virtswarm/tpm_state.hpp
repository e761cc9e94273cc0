// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// A domain's emulated TPM keeps its state (keys, NV) across restarts, like a disk; the
// shim's swtpm writes it, the registry removes it when the domain is undefined.
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"

#include <string>

namespace virtswarm {

// <state dir>/swtpm/<uuid> (system: /var/lib/virtswarm/swtpm/<uuid>).
std::string tpmStateDir(BusMode mode, const UuidBytes& uuid);

// Removes the directory and what is in it; no directory is not an error.
Result<void> removeTpmState(BusMode mode, const UuidBytes& uuid);

} // namespace virtswarm
