// SPDX-License-Identifier: LGPL-2.1-or-later
// Network procedures that change something, forwarded to networkd after the client's own
// polkit check (the action ids networkd's methods check): define, create, start, destroy,
// undefine (autostart: proc_object_family.hpp).
#include "procedures.hpp"
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

constexpr auto kDefineXml = actions::forMethod(names::kNetworkManagerInterface, "DefineXML");
constexpr auto kCreateXml = actions::forMethod(names::kNetworkManagerInterface, "CreateXML");

const Action* actionFor(int32_t procedure) {
    for (const auto& a : kActions) {
        if (a.procedure == procedure) {
            return &a;
        }
    }
    return nullptr;
}

void replyVoidOrFail(const CallPtr& call, const Result<void>& r) {
    if (r) {
        call->replyVoid();
    } else {
        call->fail(r.error());
    }
}

void networkAction(Services& services, const CallPtr& call, xdr::Reader& args) {
    const Action* action = actionFor(call->procedure());
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

// DEFINE_XML and CREATE_XML. The XML is parsed here first with networkd's own parser:
// polkit needs the name and UUID as details before anything is forwarded. The normalised
// XML (with the UUID generated here, if the client gave none) is what goes to networkd, so
// the UUID checked is the UUID defined.
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
    bool create = call->procedure() == proto::NetworkCreateXml;
    auto network = std::make_shared<network::NetworkXml>(std::move(parsed).value());
    RemoteNetwork named{network->def.name, network->def.uuid};
    authorizeObject<NetworkKind>(services, call, create ? kCreateXml.actionId : kDefineXml.actionId,
                                 named.name, named.uuid, [&services, call, network, named, create] {
                                     auto done = [call, named](Result<std::string> path) {
                                         if (!path) {
                                             call->fail(path.error());
                                             return;
                                         }
                                         xdr::Writer w;
                                         writeNetwork(w, named);
                                         call->reply(w);
                                     };
                                     services.networks.defineOrCreate(
                                         create ? "CreateXML" : "DefineXML", network->xml, {},
                                         NetworkClient::kCallTimeout, done);
                                 });
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
