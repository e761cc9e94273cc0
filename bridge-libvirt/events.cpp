// SPDX-License-Identifier: LGPL-2.1-or-later
#include "events.hpp"

#include "client.hpp"
#include "procedures.hpp"
#include "protocol.hpp"

namespace virtswarm::bridge {
namespace {

// libvirtd sends events with serial 1 (measured); clients ignore it.
constexpr uint32_t kEventSerial = 1;
// Registrations per connection; virsh `event --all` needs 27, nothing needs thousands.
constexpr size_t kMaxCallbacksPerClient = 1024;

void registerAny(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t eventId = args.i32();
    std::optional<RemoteDomain> dom = readOptionalDomain(args);
    if (!argsDone(call, args)) {
        return;
    }
    if (eventId < 0 || eventId > proto::kEventIdLast) {
        call->fail(Error(Code::InvalidArgs, "unsupported event ID " + std::to_string(eventId)));
        return;
    }
    auto client = call->client();
    if (!client) {
        return;
    }
    if (client->events().size() >= kMaxCallbacksPerClient) {
        call->fail(Error(Code::InvalidArgs, "too many event callbacks on this connection"));
        return;
    }
    // Every id is accepted (virsh `event --all` gives up at the first refusal); only
    // lifecycle events are ever delivered.
    int32_t callbackId = services.events.nextCallbackId();
    EventRegistration reg;
    reg.eventId = eventId;
    if (dom) {
        reg.domain = dom->uuid;
    }
    client->events()[callbackId] = reg;
    xdr::Writer w;
    w.i32(callbackId);
    call->reply(w);
}

void deregisterAny(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t callbackId = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    auto client = call->client();
    if (!client) {
        return;
    }
    if (client->events().erase(callbackId) == 0) {
        call->fail(Error(Code::InvalidArgs,
                         "callback ID " + std::to_string(callbackId) + " is not registered"));
        return;
    }
    call->replyVoid();
}

constexpr Procedure kProcedures[] = {
    {proto::ConnectDomainEventCallbackRegisterAny, "virConnectDomainEventRegisterAny", Access::Read,
     registerAny},
    {proto::ConnectDomainEventCallbackDeregisterAny, "virConnectDomainEventDeregisterAny",
     Access::Read, deregisterAny},
};

} // namespace

std::span<const Procedure> eventProcedures() {
    return kProcedures;
}

void EventForwarder::forward(const DomainEventSignal& event) {
    RemoteDomain dom{event.name, event.uuid, -1};
    if (const auto* d = m_cache.byUuid(event.uuid)) {
        dom = remoteDomain(*d);
    }
    Header header;
    header.procedure = proto::DomainEventCallbackLifecycle;
    header.type = static_cast<uint32_t>(proto::MessageType::Message);
    header.serial = kEventSerial;
    header.status = static_cast<uint32_t>(proto::MessageStatus::Ok);
    m_forEachClient([&](Client& client) {
        // Copied: sendMessage may close the client, which clears its registrations.
        auto registrations = client.events();
        for (const auto& [callbackId, reg] : registrations) {
            if (reg.eventId != proto::kEventIdLifecycle ||
                (reg.domain && *reg.domain != event.uuid)) {
                continue;
            }
            xdr::Writer w;
            w.i32(callbackId);
            writeDomain(w, dom);
            w.i32(event.event);
            w.i32(event.detail);
            client.sendMessage(header, w.bytes());
        }
    });
}

} // namespace virtswarm::bridge
