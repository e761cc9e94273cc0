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

using Kind = EventRegistration::Kind;

// Records a registration and answers with its callback id.
void addRegistration(Services& services, const CallPtr& call, EventRegistration reg) {
    auto client = call->client();
    if (!client) {
        return;
    }
    if (client->events().size() >= kMaxCallbacksPerClient) {
        call->fail(Error(Code::InvalidArgs, "too many event callbacks on this connection"));
        return;
    }
    int32_t callbackId = services.events.nextCallbackId();
    client->events()[callbackId] = reg;
    xdr::Writer w;
    w.i32(callbackId);
    call->reply(w);
}

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
    // Every id is accepted (virsh `event --all` gives up at the first refusal); lifecycle,
    // reboot and device-removed events are delivered.
    EventRegistration reg;
    reg.kind = Kind::Domain;
    reg.eventId = eventId;
    if (dom) {
        reg.only = dom->uuid;
    }
    addRegistration(services, call, reg);
}

// CONNECT_<KIND>_EVENT_REGISTER_ANY (int eventID, optional object) of a kind served by
// another daemon than the registry (networks, storage pools).
template <typename ObjectKind, Kind kind, int32_t lastEventId>
void registerObjectAny(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t eventId = args.i32();
    std::optional<typename ObjectKind::Remote> object;
    if (args.present()) {
        object = ObjectKind::read(args);
    }
    if (!argsDone(call, args)) {
        return;
    }
    if (eventId < 0 || eventId > lastEventId) {
        call->fail(Error(Code::InvalidArgs, "unsupported event ID " + std::to_string(eventId)));
        return;
    }
    EventRegistration reg;
    reg.kind = kind;
    reg.eventId = eventId;
    if (object) {
        reg.only = object->uuid;
    }
    // The daemon's signals count only once its cache follows an instance of it: start
    // following it now (activating it), whether or not it answers.
    services.objects<ObjectKind>().whenSynced(
        [&services, call, reg](Result<void>) { addRegistration(services, call, reg); });
}

void deregister(const CallPtr& call, xdr::Reader& args, Kind kind) {
    int32_t callbackId = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    auto client = call->client();
    if (!client) {
        return;
    }
    auto it = client->events().find(callbackId);
    if (it == client->events().end() || it->second.kind != kind) {
        call->fail(Error(Code::InvalidArgs,
                         "callback ID " + std::to_string(callbackId) + " is not registered"));
        return;
    }
    client->events().erase(it);
    call->replyVoid();
}

void deregisterAny(Services&, const CallPtr& call, xdr::Reader& args) {
    deregister(call, args, Kind::Domain);
}

template <Kind kind> void deregisterObjectAny(Services&, const CallPtr& call, xdr::Reader& args) {
    deregister(call, args, kind);
}

constexpr Procedure kProcedures[] = {
    {proto::ConnectDomainEventCallbackRegisterAny, "virConnectDomainEventRegisterAny", Access::Read,
     registerAny},
    {proto::ConnectDomainEventCallbackDeregisterAny, "virConnectDomainEventDeregisterAny",
     Access::Read, deregisterAny},
};

constexpr Procedure kNetworkProcedures[] = {
    {proto::ConnectNetworkEventRegisterAny, "virConnectNetworkEventRegisterAny", Access::Read,
     registerObjectAny<NetworkKind, Kind::Network, proto::kNetworkEventIdLast>},
    {proto::ConnectNetworkEventDeregisterAny, "virConnectNetworkEventDeregisterAny", Access::Read,
     deregisterObjectAny<Kind::Network>},
};

// Pool lifecycle (id 0) and refresh (id 1) events.
constexpr Procedure kStorageProcedures[] = {
    {proto::ConnectStoragePoolEventRegisterAny, "virConnectStoragePoolEventRegisterAny",
     Access::Read,
     registerObjectAny<StoragePoolKind, Kind::StoragePool, proto::kStoragePoolEventIdLast>},
    {proto::ConnectStoragePoolEventDeregisterAny, "virConnectStoragePoolEventDeregisterAny",
     Access::Read, deregisterObjectAny<Kind::StoragePool>},
};

// Sends one message, built by `write(writer, callbackId)`, to every registration of `kind`
// for `eventId` that wants events of `uuid`.
template <typename Write>
void deliver(const EventForwarder::ForEachClient& forEachClient, int32_t procedure, Kind kind,
             int32_t eventId, const UuidBytes& uuid, const Write& write) {
    Header header;
    header.procedure = procedure;
    header.type = static_cast<uint32_t>(proto::MessageType::Message);
    header.serial = kEventSerial;
    header.status = static_cast<uint32_t>(proto::MessageStatus::Ok);
    forEachClient([&](Client& client) {
        // Copied: sendMessage may close the client, which clears its registrations.
        auto registrations = client.events();
        for (const auto& [callbackId, reg] : registrations) {
            if (reg.kind != kind || reg.eventId != eventId || (reg.only && *reg.only != uuid)) {
                continue;
            }
            xdr::Writer w;
            write(w, callbackId);
            client.sendMessage(header, w.bytes());
        }
    });
}

} // namespace

std::span<const Procedure> eventProcedures() {
    return kProcedures;
}

std::span<const Procedure> networkEventProcedures() {
    return kNetworkProcedures;
}

std::span<const Procedure> storageEventProcedures() {
    return kStorageProcedures;
}

void EventForwarder::forward(const DomainEventSignal& event) {
    RemoteDomain dom{event.name, event.uuid, -1};
    if (const auto* d = m_cache.byUuid(event.uuid)) {
        dom = remoteDomain(*d);
    }
    deliver(m_forEachClient, proto::DomainEventCallbackLifecycle, Kind::Domain,
            proto::kEventIdLifecycle, event.uuid, [&](xdr::Writer& w, int32_t callbackId) {
                w.i32(callbackId);
                writeDomain(w, dom);
                w.i32(event.event);
                w.i32(event.detail);
            });
}

void EventForwarder::forward(const DomainNoticeSignal& notice) {
    RemoteDomain dom{notice.name, notice.uuid, -1};
    if (const auto* d = m_cache.byUuid(notice.uuid)) {
        dom = remoteDomain(*d);
    }
    using K = DomainNoticeSignal::Kind;
    int32_t procedure = proto::DomainEventCallbackReboot;
    int32_t eventId = proto::kEventIdReboot;
    if (notice.kind == K::DeviceRemoved) {
        procedure = proto::DomainEventCallbackDeviceRemoved;
        eventId = proto::kEventIdDeviceRemoved;
    } else if (notice.kind == K::MetadataChanged) {
        procedure = proto::DomainEventCallbackMetadataChange;
        eventId = proto::kEventIdMetadataChange;
    }
    // virDomainMetadataType, for METADATA_CHANGE.
    int32_t metadataType = notice.metadataType == "element" ? 2
                           : notice.metadataType == "title" ? 1
                                                            : 0;
    deliver(m_forEachClient, procedure, Kind::Domain, eventId, notice.uuid,
            [&](xdr::Writer& w, int32_t callbackId) {
                w.i32(callbackId);
                writeDomain(w, dom);
                if (notice.kind == K::DeviceRemoved) {
                    w.string(notice.alias);
                } else if (notice.kind == K::MetadataChanged) {
                    w.i32(metadataType);
                    w.optionalString(notice.uri.empty() ? std::nullopt
                                                        : std::optional<std::string>(notice.uri));
                }
            });
}

void EventForwarder::forward(const NetworkEventSignal& event) {
    RemoteNetwork net{event.name, event.uuid};
    deliver(m_forEachClient, proto::NetworkEventLifecycle, Kind::Network,
            proto::kNetworkEventIdLifecycle, event.uuid, [&](xdr::Writer& w, int32_t callbackId) {
                w.i32(callbackId);
                writeNetwork(w, net);
                w.i32(event.event);
                w.i32(event.detail);
            });
}

void EventForwarder::forward(const StoragePoolEventSignal& event) {
    RemoteStoragePool pool{event.name, event.uuid};
    deliver(m_forEachClient, proto::StoragePoolEventLifecycle, Kind::StoragePool,
            proto::kStoragePoolEventIdLifecycle, event.uuid,
            [&](xdr::Writer& w, int32_t callbackId) {
                w.i32(callbackId);
                writeStoragePool(w, pool);
                w.i32(event.event);
                w.i32(event.detail);
            });
}

void EventForwarder::forwardRefresh(const RemoteStoragePool& pool) {
    deliver(m_forEachClient, proto::StoragePoolEventRefresh, Kind::StoragePool,
            proto::kStoragePoolEventIdRefresh, pool.uuid, [&](xdr::Writer& w, int32_t callbackId) {
                w.i32(callbackId);
                writeStoragePool(w, pool);
            });
}

} // namespace virtswarm::bridge
