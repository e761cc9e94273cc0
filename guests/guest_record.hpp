// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>
#include <vector>

namespace virtswarm::guests {

// The persistent guests the last host shutdown stopped, so that boot can bring them
// back (ON_BOOT=start). One UUID per line; written atomically.
Result<void> writeGuestRecord(const std::string& path, const std::vector<std::string>& uuids);
// An absent record is an empty list.
Result<std::vector<std::string>> readGuestRecord(const std::string& path);
Result<void> removeGuestRecord(const std::string& path);

} // namespace virtswarm::guests
