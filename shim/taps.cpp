// SPDX-License-Identifier: LGPL-2.1-or-later
#include "taps.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/names.hpp"

#include <virtswarm/gen/org.virtswarm.Network1.Manager_proxy.h>

namespace virtswarm::shim {

// networkd's Manager through the generated async proxy (its timeout, in the interface
// XML, leaves room for networkd's activation by the call). The proxy is never registered:
// the shim wants no NetworkEvent signals, only its replies.
class TapBroker::NetworkdProxy final
    : public sdbus::ProxyInterfaces<org::virtswarm::Network1::Manager_proxy> {
public:
    NetworkdProxy(sdbus::IConnection& bus, service::FdRequests& requests)
        : ProxyInterfaces(bus, names::kNetworkBusName, names::kNetworkRootPath)
        , m_requests(requests) {}
    ~NetworkdProxy() { unregisterProxy(); }

private:
    void onNetworkEvent(const sdbus::ObjectPath&, const std::string&, const std::string&,
                        const int32_t&, const int32_t&) override {}
    void onAcquireTapReply(const sdbus::UnixFd& fd, const std::string& ifname,
                           const sdbus::Error* error) override {
        m_requests.complete(error, fd, ifname);
    }

    service::FdRequests& m_requests;
};

TapBroker::TapBroker(SystemBusLink& systemBus)
    : m_systemBus(systemBus) {}

TapBroker::~TapBroker() = default;

Result<TapBroker::NetworkdProxy*> TapBroker::networkd() {
    if (m_networkd) {
        return m_networkd.get();
    }
    auto bus = m_systemBus.connection("reaching virtswarm-networkd");
    if (!bus) {
        return bus.takeError();
    }
    m_networkd = std::make_unique<NetworkdProxy>(*bus.value(), m_requests);
    return m_networkd.get();
}

namespace {

// networkd binds the filter (options documented in org.virtswarm.Network1.Manager.xml).
void addFilterRequest(const InterfaceDef& nic, const DomainDef& domain, Options& options) {
    if (!nic.filterref) {
        return;
    }
    std::vector<sdbus::Struct<std::string, std::string>> parameters;
    for (const auto& [name, value] : nic.filterref->parameters) {
        parameters.emplace_back(name, value);
    }
    options.emplace("filter", sdbus::Variant(nic.filterref->filter));
    options.emplace("filter_parameters", sdbus::Variant(parameters));
    options.emplace("owner_name", sdbus::Variant(domain.name));
    options.emplace("owner_uuid", sdbus::Variant(formatUuid(domain.uuid)));
}

} // namespace

void TapBroker::acquire(const InterfaceDef& nic, const DomainDef& domain,
                        std::function<void(Result<Tap>)> done) {
    Options options{{"mac", sdbus::Variant(nic.mac)}};
    addFilterRequest(nic, domain, options);
    std::string network;
    if (nic.type == "bridge") {
        options.emplace("bridge", sdbus::Variant(nic.source));
    } else {
        network = nic.source;
    }
    auto proxy = networkd();
    if (!proxy) {
        m_systemBus.loop().defer([done, error = proxy.error()] { done(error); });
        return;
    }
    m_requests.request(
        [proxy = proxy.value(), network, options] { proxy->AcquireTap(network, options); },
        [done, source = nic.source](Result<service::BrokeredFd> tap) {
            if (!tap) {
                Error e = tap.error();
                done(e.prefix("TAP on '" + source + "'"));
                return;
            }
            done(Tap{tap.value().fd, tap.value().name});
        });
}

} // namespace virtswarm::shim
