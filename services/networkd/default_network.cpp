// SPDX-License-Identifier: LGPL-2.1-or-later
#include "default_network.hpp"

#include "network_object.hpp"
#include "registry.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace virtswarm::network {
namespace {

constexpr unsigned kFirstOctet = 122; // libvirt's 192.168.122.0/24
constexpr unsigned kLastOctet = 254;

std::string markerPath(const DaemonPaths& paths) {
    return paths.stateDir + "/default-network-provisioned";
}

std::string subnet(unsigned octet) {
    return "192.168." + std::to_string(octet) + ".";
}

// Records that provisioning happened (whatever its outcome), so it never happens again.
void writeMarker(const DaemonPaths& paths, const std::string& what) {
    if (auto r = writeFileAtomic(markerPath(paths), what + "\n", 0644); !r) {
        log::error("default network: " + r.error().message());
    }
}

} // namespace

Result<bool> defaultNetworkWanted(BusMode mode, const char* envValue) {
    if (envValue != nullptr && *envValue != '\0') {
        std::string_view v(envValue);
        if (v != "yes" && v != "no") {
            return Error(Code::InvalidArgs, std::string(kDefaultNetworkEnv) + "='" +
                                                std::string(v) + "' is not valid (yes or no)");
        }
        if (v == "no") {
            return false;
        }
    }
    // Networks belong to the system; a session bus has no networkd of its own to fill.
    return mode == BusMode::System;
}

std::optional<unsigned> pickDefaultSubnet(const std::vector<IpDef>& taken) {
    for (unsigned octet = kFirstOctet; octet <= kLastOctet; ++octet) {
        IpDef candidate;
        candidate.address = subnet(octet) + "0";
        candidate.prefix = 24;
        bool free = true;
        for (const IpDef& t : taken) {
            free = free && !subnetsOverlap(candidate, t);
        }
        if (free) {
            return octet;
        }
    }
    return std::nullopt;
}

std::string defaultNetworkXml(unsigned octet) {
    std::string net = subnet(octet);
    return "<network><name>default</name><forward mode='nat'/>"
           "<ip address='" +
           net + "1' netmask='255.255.255.0'><dhcp><range start='" + net + "2' end='" + net +
           "254'/></dhcp></ip></network>";
}

void provisionDefaultNetwork(NetworkRegistry& registry, BusMode mode) {
    auto wanted = defaultNetworkWanted(mode, std::getenv(kDefaultNetworkEnv));
    if (!wanted) {
        log::error("default network not provisioned: " + wanted.error().message());
        return;
    }
    std::error_code ec;
    if (!wanted.value() || std::filesystem::exists(markerPath(registry.paths()), ec)) {
        return;
    }
    if (registry.findByName("default") != nullptr) {
        log::info("default network: a network named 'default' exists already; kept as it is");
        writeMarker(registry.paths(), "kept the existing network 'default'");
        return;
    }
    auto taken = registry.links().hostIpv4Subnets();
    if (!taken) {
        // Without the host's routes a subnet could clash with the host's own network:
        // better no default network now, and another try at the next start.
        log::error("default network not provisioned: " + taken.error().message());
        return;
    }
    for (const NetworkObject* n : registry.all()) {
        taken.value().insert(taken.value().end(), n->def().ips.begin(), n->def().ips.end());
    }
    auto octet = pickDefaultSubnet(taken.value());
    if (!octet) {
        log::error("default network not provisioned: every 192.168.122-254.0/24 is in use");
        writeMarker(registry.paths(), "no free subnet");
        return;
    }
    auto parsed = parseNetworkXml(defaultNetworkXml(*octet));
    auto defined =
        parsed ? registry.define(parsed.value()) : Result<NetworkObject*>(parsed.takeError());
    if (defined) {
        if (auto r = registry.store().setAutostart(defined.value()->def().uuid, true); r) {
            defined.value()->setAutostartFlag(true);
        } else {
            log::error("default network: " + r.error().message());
        }
    }
    if (!defined) {
        log::error("default network not provisioned: " + defined.error().message());
        return;
    }
    log::info("default network: defined on " + subnet(*octet) + "0/24, bridge " +
              defined.value()->def().bridge + ", autostart");
    writeMarker(registry.paths(), "defined 'default' " + defined.value()->uuidText() + " on " +
                                      subnet(*octet) + "0/24");
}

} // namespace virtswarm::network
