// SPDX-License-Identifier: LGPL-2.1-or-later
#include "network_cache.hpp"

namespace virtswarm::bridge {
namespace {

// virConnectListAllNetworksFlags
constexpr uint32_t kListInactive = 1, kListActive = 2, kListPersistent = 4, kListTransient = 8,
                   kListAutostart = 16, kListNoAutostart = 32;

} // namespace

void CachedNetwork::apply(const PropertyMap& properties) {
    takeProperty(properties, "Name", name);
    takeProperty(properties, "Active", active);
    takeProperty(properties, "Persistent", persistent);
    takeProperty(properties, "Autostart", autostart);
    takeProperty(properties, "Bridge", bridge);
}

bool matchesNetworkListFlags(const CachedNetwork& n, uint32_t flags) {
    auto group = [flags](uint32_t yes, uint32_t no, bool value) {
        bool wantYes = (flags & yes) != 0, wantNo = (flags & no) != 0;
        return (!wantYes && !wantNo) || (wantYes && value) || (wantNo && !value);
    };
    return group(kListActive, kListInactive, n.active) &&
           group(kListPersistent, kListTransient, n.persistent) &&
           group(kListAutostart, kListNoAutostart, n.autostart);
}

} // namespace virtswarm::bridge
