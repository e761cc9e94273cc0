// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "service_client.hpp"
#include "virtswarm/dbus_edge.hpp"

#include <string>
#include <tuple>
#include <vector>

// The bridge's side of virtswarm-nwfilterd (org.virtswarm.NWFilter1, system bus): a copy
// of its filters (name and UUID) for lists and lookups without a round trip, and its
// methods, called asynchronously with timeouts.
namespace virtswarm::bridge {

struct CachedNWFilter : CachedObject {};

// What ObjectCache needs of the kind: filters mirror no property besides Name and UUID.
struct NWFilterKind {
    using Object = CachedNWFilter;
    static constexpr std::tuple<> kProperties{};
};

using NWFilterCache = ObjectCache<NWFilterKind>;

class NWFilterClient {
public:
    using Done = ServiceClient::Done;
    template <typename T> using Then = ServiceClient::Then<T>;

    NWFilterClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches; the cache is filled (nwfilterd activated) on first use.
    Result<void> start() { return m_service.start(false); }
    void whenSynced(Done then) { m_service.whenSynced(std::move(then)); }
    const NWFilterCache& cache() const { return m_cache; }

    // Manager.DefineXML: the new filter's UUID (from its object path).
    void define(const std::string& xml, Then<UuidBytes> done);
    // Filter.GetXML
    void getXml(const std::string& path, Then<std::string> done);
    // Filter.Undefine
    void undefine(const std::string& path, Done done);

    // Bindings (Manager methods keyed by port device).
    void listBindings(Then<std::vector<std::string>> done);
    void bindingXml(const std::string& port, Then<std::string> done);
    void createBinding(const std::string& xml, Then<std::string> done);
    void deleteBinding(const std::string& port, Done done);

private:
    ServiceClient m_service;
    NWFilterCache m_cache;
};

} // namespace virtswarm::bridge
