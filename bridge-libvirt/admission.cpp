// SPDX-License-Identifier: LGPL-2.1-or-later
#include "admission.hpp"

#include <algorithm>

namespace virtswarm::bridge {

std::optional<std::string> refusal(const ServerLimits& limits, std::optional<uid_t> owner,
                                   const ConnectionCounts& counts) {
    if (counts.all >= limits.maxClients) {
        return "the server has " + std::to_string(counts.all) + " connections, its maximum";
    }
    if (owner && *owner == 0) {
        return std::nullopt;
    }
    size_t reserve = std::min(limits.rootReserve, limits.maxClients);
    if (counts.all >= limits.maxClients - reserve) {
        return "the last " + std::to_string(reserve) + " connections are reserved for root";
    }
    if (counts.sameOwner >= limits.maxClientsPerUid) {
        return "the user has " + std::to_string(counts.sameOwner) + " connections, the maximum";
    }
    if (counts.sameOwnerUnopened >= limits.maxAnonymousClientsPerUid) {
        return "the user has " + std::to_string(counts.sameOwnerUnopened) +
               " connections that have not opened, the maximum";
    }
    return std::nullopt;
}

ServerLimits fitToDescriptors(ServerLimits limits, size_t openFiles) {
    // A quarter (at least 64) for everything that is not a client.
    size_t headroom = std::max<size_t>(64, openFiles / 4);
    size_t room = openFiles > headroom ? openFiles - headroom : 1;
    limits.maxClients = std::min(limits.maxClients, room);
    // Descriptors clients send come out of the headroom too, half of it at most.
    limits.maxHeldFds = std::min(limits.maxHeldFds, headroom / 2);
    limits.maxHeldFdsPerUid = std::min(limits.maxHeldFdsPerUid, limits.maxHeldFds);
    return limits;
}

} // namespace virtswarm::bridge
