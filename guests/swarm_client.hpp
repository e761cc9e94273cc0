// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::guests {

struct DomainInfo {
    std::string path;
    std::string name;
    std::string uuid;
    std::string state;
    std::string reason;
    bool persistent = false;
    bool autostart = false;
};

struct NetworkInfo {
    std::string path;
    std::string name;
    bool active = false;
    bool autostart = false;
};

// Blocking calls to the registry and networkd, each with a timeout. virtswarm-guests is
// a one-shot command run by the boot and shutdown units, not a daemon: it has no event
// loop to keep responsive, so plain synchronous calls keep it simple.
class SwarmClient {
public:
    explicit SwarmClient(sdbus::IConnection& bus);

    Result<std::vector<std::string>> listDomains(bool activeOnly);
    // The domain's properties; NoSuchDomain when its object is gone (a transient domain
    // that shut off).
    Result<DomainInfo> domain(const std::string& path);
    Result<std::string> lookupDomainByUuid(const std::string& uuid);
    // Calls a Domain method that takes only an options dictionary.
    Result<void> callDomain(const std::string& path, const std::string& method,
                            const Options& options, std::chrono::seconds timeout);

    Result<std::vector<NetworkInfo>> networks();
    Result<NetworkInfo> network(const std::string& path);

private:
    sdbus::IProxy& proxy(const std::string& service, const std::string& path);

    sdbus::IConnection& m_bus;
    std::vector<std::unique_ptr<sdbus::IProxy>> m_proxies;
};

} // namespace virtswarm::guests
