// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/network_def.hpp"
#include "virtswarm/result.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

struct nl_sock;

namespace virtswarm::network {

// Bridges, addresses and TAP devices through rtnetlink (libnl3), never by running ip(8).
// Calls go to the kernel and return at once; nothing here waits on another process.
class Links {
public:
    Links();
    ~Links();
    Links(const Links&) = delete;
    Links& operator=(const Links&) = delete;

    Result<void> createBridge(const std::string& name, const std::string& mac, bool stp,
                              unsigned delay);
    Result<void> remove(const std::string& name);
    bool exists(const std::string& name) const;
    bool isBridge(const std::string& name);
    Result<void> setUp(const std::string& name);
    Result<void> addAddress(const std::string& link, int family, const std::string& address,
                            unsigned prefix);
    Result<void> enslave(const std::string& port, const std::string& bridge);

    // Every IPv4 subnet the host already reaches: the destinations of its routes (all
    // tables, default routes left out) and the subnets of its addresses.
    Result<std::vector<IpDef>> hostIpv4Subnets();

    // The host's network interfaces as libvirt's interface driver shows them (read only):
    // host_interfaces.cpp.
    struct HostAddress {
        std::string family; // "ipv4" or "ipv6"
        std::string address;
        unsigned prefix = 0;
    };
    struct HostInterface {
        std::string name;
        std::string mac;
        std::string type; // libvirt's: ethernet, bridge, bond, vlan
        bool up = false;
        unsigned mtu = 0;
        std::vector<HostAddress> addresses;
    };
    Result<std::vector<HostInterface>> hostInterfaces();

    struct Tap {
        int fd;
        std::string name;
    };
    // A non-persistent TAP owned by `owner`, up and attached to `bridge`: it disappears
    // when the last fd on it is closed.
    Result<Tap> createTap(const std::string& bridge, uid_t owner);

private:
    static int ifindexOf(const std::string& name);
    ::nl_sock* m_sock = nullptr;
};

} // namespace virtswarm::network
