// SPDX-License-Identifier: LGPL-2.1-or-later
// Network procedures that change something, forwarded to networkd after the client's own
// polkit check (the action ids networkd's methods check): define, create, start, destroy,
// undefine (autostart: proc_object_family.hpp).
#include "proc_object_family.hpp"
#include "protocol.hpp"
#include "virtswarm/network_def.hpp"

namespace virtswarm::bridge {
namespace {

// A procedure that names a network and maps to one Network method taking only options.
struct Action {
    int32_t procedure;
    void (NetworkClient::*method)(const std::string& path, NetworkClient::Done done);
    actions::MethodAction polkit; // the same action networkd's method checks
};

constexpr Action kActions[] = {
    {proto::NetworkCreate, &NetworkClient::start,
     actions::forMethod(names::kNetworkInterface, "Start")},
    {proto::NetworkDestroy, &NetworkClient::stop,
     actions::forMethod(names::kNetworkInterface, "Stop")},
    {proto::NetworkUndefine, &NetworkClient::undefine,
     actions::forMethod(names::kNetworkInterface, "Undefine")},
};

void networkAction(Services& services, const CallPtr& call, xdr::Reader& args) {
    const Action* action = entryFor(kActions, call->procedure());
    RemoteNetwork net = readNetwork(args);
    if (!argsDone(call, args)) {
        return;
    }
    if (action == nullptr) {
        call->fail(Error(Code::Internal,
                         "no network action for procedure " + std::to_string(call->procedure())));
        return;
    }
    withObject<NetworkKind>(services, call, net, [&services, call, action](const CachedNetwork& n) {
        std::string path = n.path;
        authorizeObject<NetworkKind>(
            services, call, action->polkit, n, [&services, call, action, path] {
                (services.networks.*
                 action->method)(path, [call](Result<void> r) { replyVoidOrFail(call, r); });
            });
    });
}

// DEFINE_XML and CREATE_XML, parsed here with networkd's own parser
// (family::defineOrCreate).
void defineOrCreate(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    auto parsed = network::parseNetworkXml(xml);
    if (!parsed) {
        call->fail(parsed.error());
        return;
    }
    network::NetworkXml network = std::move(parsed).value();
    family::defineOrCreate<NetworkKind>(services, call,
                                        call->procedure() == proto::NetworkCreateXml,
                                        RemoteNetwork{network.def.name, network.def.uuid},
                                        std::move(network.xml), {}, NetworkClient::kCallTimeout);
}

constexpr Procedure kProcedures[] = {
    {proto::NetworkDefineXml, "virNetworkDefineXML", Access::Write, defineOrCreate},
    {proto::NetworkCreateXml, "virNetworkCreateXML", Access::Write, defineOrCreate},
    {proto::NetworkCreate, "virNetworkCreate", Access::Write, networkAction},
    {proto::NetworkDestroy, "virNetworkDestroy", Access::Write, networkAction},
    {proto::NetworkUndefine, "virNetworkUndefine", Access::Write, networkAction},
};

} // namespace

std::span<const Procedure> networkLifecycleProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
