// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "limits.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <sys/types.h>

// Whether the server takes one more connection: the rules of ServerLimits, apart from the
// bookkeeping (Server counts its clients).
namespace virtswarm::bridge {

// The connections already there, as seen by a newcomer.
struct ConnectionCounts {
    size_t all = 0;
    size_t sameOwner = 0;         // of the newcomer's uid
    size_t sameOwnerUnopened = 0; // of those, not yet past CONNECT_OPEN
};

// Why a new connection of `owner` (a uid; nullopt for peers without credentials) is
// refused, or nullopt if it is admitted. Root is only held to maxClients.
std::optional<std::string> refusal(const ServerLimits& limits, std::optional<uid_t> owner,
                                   const ConnectionCounts& counts);

// maxClients within what `openFiles` descriptors (RLIMIT_NOFILE) allow, leaving room for
// the bus, consoles and the process itself: accept() must never fail for want of a
// descriptor while the limits still admit root.
ServerLimits fitToDescriptors(ServerLimits limits, size_t openFiles);

} // namespace virtswarm::bridge
