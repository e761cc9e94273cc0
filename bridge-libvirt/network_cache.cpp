// SPDX-License-Identifier: LGPL-2.1-or-later
#include "network_cache.hpp"

namespace virtswarm::bridge {
namespace {

// virConnectListAllNetworksFlags
constexpr uint32_t kListInactive = 1, kListActive = 2, kListPersistent = 4, kListTransient = 8,
                   kListAutostart = 16, kListNoAutostart = 32;

} // namespace

bool matchesNetworkListFlags(const CachedNetwork& n, uint32_t flags) {
    return matchesFlagPair(flags, kListActive, kListInactive, n.active) &&
           matchesFlagPair(flags, kListPersistent, kListTransient, n.persistent) &&
           matchesFlagPair(flags, kListAutostart, kListNoAutostart, n.autostart);
}

} // namespace virtswarm::bridge
