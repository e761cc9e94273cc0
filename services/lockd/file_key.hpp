// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "lease_table.hpp"
#include "virtswarm/result.hpp"

#include <string>

namespace virtswarm::lock {

// The identity a lease is keyed by, from a descriptor the caller opened: "file:<dev>:<ino>"
// for a regular file (every path and hard link to it is the same image), "block:<major>:
// <minor>" for a block device (every device node of the disk is the same disk). The
// descriptor must be open for writing for an exclusive lease and for reading at least for
// a shared one: what a caller leases is what it could open itself. Anything else
// (directories, sockets, O_PATH descriptors) is InvalidArgs naming `path`.
Result<std::string> fileKey(int fd, LeaseMode mode, const std::string& path);

} // namespace virtswarm::lock
