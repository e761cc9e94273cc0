// SPDX-License-Identifier: LGPL-2.1-or-later
#include "swarm_client.hpp"

#include "virtswarm/names.hpp"

namespace virtswarm::guests {
namespace {

constexpr const char* kManager = "org.virtswarm.Hypervisor1.Manager";
constexpr const char* kDomain = "org.virtswarm.Hypervisor1.Domain";
constexpr const char* kNetworkBus = "org.virtswarm.Network1";
constexpr const char* kNetworkRoot = "/org/virtswarm/Network1";
constexpr const char* kNetworkManager = "org.virtswarm.Network1.Manager";
constexpr const char* kNetwork = "org.virtswarm.Network1.Network";
// Long enough for the first call to D-Bus-activate a daemon that re-adopts its objects.
constexpr auto kCallTimeout = std::chrono::seconds(60);

using Properties = std::map<std::string, sdbus::Variant>;

Result<Properties> getAll(sdbus::IProxy& proxy, const char* interface) {
    try {
        Properties props;
        proxy.callMethod("GetAll")
            .onInterface("org.freedesktop.DBus.Properties")
            .withTimeout(kCallTimeout)
            .withArguments(interface)
            .storeResultsTo(props);
        return props;
    } catch (const sdbus::Error& e) {
        if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject" ||
            e.getName() == "org.freedesktop.DBus.Error.UnknownMethod") {
            return Error(Code::NoSuchDomain, "object " + proxy.getObjectPath() + " is gone");
        }
        return fromDBusError(e);
    }
}

template <typename T> T propertyOr(const Properties& props, const char* name, T fallback) {
    auto it = props.find(name);
    if (it == props.end()) {
        return fallback;
    }
    try {
        return it->second.get<T>();
    } catch (const sdbus::Error&) {
        return fallback;
    }
}

} // namespace

SwarmClient::SwarmClient(sdbus::IConnection& bus)
    : m_bus(bus) {}

sdbus::IProxy& SwarmClient::proxy(const std::string& service, const std::string& path) {
    for (auto& p : m_proxies) {
        if (p->getObjectPath() == path) {
            return *p;
        }
    }
    m_proxies.push_back(sdbus::createProxy(m_bus, service, path));
    return *m_proxies.back();
}

Result<std::vector<std::string>> SwarmClient::listDomains(bool activeOnly) {
    Options options;
    if (activeOnly) {
        options.emplace("active", sdbus::Variant(true));
    }
    try {
        std::vector<sdbus::ObjectPath> paths;
        proxy(names::kHypervisorBusName, names::kHypervisorRootPath)
            .callMethod("ListDomains")
            .onInterface(kManager)
            .withTimeout(kCallTimeout)
            .withArguments(options)
            .storeResultsTo(paths);
        return std::vector<std::string>(paths.begin(), paths.end());
    } catch (const sdbus::Error& e) {
        return fromDBusError(e).prefix("listing domains");
    }
}

Result<DomainInfo> SwarmClient::domain(const std::string& path) {
    auto props = getAll(proxy(names::kHypervisorBusName, path), kDomain);
    if (!props) {
        return props.takeError();
    }
    const Properties& p = props.value();
    return DomainInfo{path,
                      propertyOr<std::string>(p, "Name", ""),
                      propertyOr<std::string>(p, "UUID", ""),
                      propertyOr<std::string>(p, "State", ""),
                      propertyOr<std::string>(p, "StateReason", ""),
                      propertyOr<bool>(p, "Persistent", false),
                      propertyOr<bool>(p, "Autostart", false)};
}

Result<std::string> SwarmClient::lookupDomainByUuid(const std::string& uuid) {
    try {
        sdbus::ObjectPath path;
        proxy(names::kHypervisorBusName, names::kHypervisorRootPath)
            .callMethod("LookupByUUID")
            .onInterface(kManager)
            .withTimeout(kCallTimeout)
            .withArguments(uuid)
            .storeResultsTo(path);
        return std::string(path);
    } catch (const sdbus::Error& e) {
        return fromDBusError(e);
    }
}

Result<void> SwarmClient::callDomain(const std::string& path, const std::string& method,
                                     const Options& options, std::chrono::seconds timeout) {
    try {
        proxy(names::kHypervisorBusName, path)
            .callMethod(method)
            .onInterface(kDomain)
            .withTimeout(timeout)
            .withArguments(options);
        return success();
    } catch (const sdbus::Error& e) {
        return fromDBusError(e);
    }
}

Result<std::vector<NetworkInfo>> SwarmClient::networks() {
    std::vector<sdbus::ObjectPath> paths;
    try {
        proxy(kNetworkBus, kNetworkRoot)
            .callMethod("ListNetworks")
            .onInterface(kNetworkManager)
            .withTimeout(kCallTimeout)
            .withArguments(Options{})
            .storeResultsTo(paths);
    } catch (const sdbus::Error& e) {
        return fromDBusError(e).prefix("listing networks");
    }
    std::vector<NetworkInfo> out;
    for (const auto& path : paths) {
        auto info = network(path);
        if (!info) {
            return info.takeError();
        }
        out.push_back(std::move(info).value());
    }
    return out;
}

Result<NetworkInfo> SwarmClient::network(const std::string& path) {
    auto props = getAll(proxy(kNetworkBus, path), kNetwork);
    if (!props) {
        return props.takeError();
    }
    const Properties& p = props.value();
    return NetworkInfo{path, propertyOr<std::string>(p, "Name", ""),
                       propertyOr<bool>(p, "Active", false),
                       propertyOr<bool>(p, "Autostart", false)};
}

} // namespace virtswarm::guests
