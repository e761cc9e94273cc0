// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"

#include <cstdint>
#include <string>

// The bridge's copy of networkd's networks (org.virtswarm.Network1.Network objects).
// net-list, net-info and the lookups are answered from it without a D-Bus round trip.
namespace virtswarm::bridge {

struct CachedNetwork {
    std::string path;
    std::string name;
    UuidBytes uuid{};
    bool active = false;
    bool persistent = false;
    bool autostart = false;
    std::string bridge;

    void apply(const PropertyMap& properties);
};

class NetworkCache : public ObjectCache<CachedNetwork> {
public:
    inline static const std::string kNetworkInterface = "org.virtswarm.Network1.Network";
};

// virConnectListAllNetworksFlags applied to one network: in each pair of flags, none set
// means "either".
bool matchesNetworkListFlags(const CachedNetwork& network, uint32_t flags);

} // namespace virtswarm::bridge
