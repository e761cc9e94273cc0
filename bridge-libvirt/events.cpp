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

// A registration of `kind` for `eventId` once the arguments are read; nullopt when the
// call was failed for them (or for an id beyond `lastEventId`).
std::optional<EventRegistration> registration(const CallPtr& call, const xdr::Reader& args,
                                              Kind kind, int32_t eventId, int32_t lastEventId) {
    if (!argsDone(call, args)) {
        return std::nullopt;
    }
    if (eventId < 0 || eventId > lastEventId) {
        call->fail(Error(Code::InvalidArgs, "unsupported event ID " + std::to_string(eventId)));
        return std::nullopt;
    }
    EventRegistration reg;
    reg.kind = kind;
    reg.eventId = eventId;
    return reg;
}

void registerAny(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t eventId = args.i32();
    std::optional<RemoteDomain> dom = readOptionalDomain(args);
    // Every id is accepted (virsh `event --all` gives up at the first refusal); lifecycle,
    // reboot and device-removed events are delivered.
    auto reg = registration(call, args, Kind::Domain, eventId, proto::kEventIdLast);
    if (!reg) {
        return;
    }
    if (dom) {
        reg->only = dom->uuid;
    }
    addRegistration(services, call, *reg);
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
    auto reg = registration(call, args, kind, eventId, lastEventId);
    if (!reg) {
        return;
    }
    if (object) {
        reg->only = object->uuid;
    }
    // The daemon's signals count only once its cache follows an instance of it: start
    // following it now (activating it), whether or not it answers.
    services.objects<ObjectKind>().whenSynced(
        [&services, call, reg = *reg](Result<void>) { addRegistration(services, call, reg); });
}

// CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY (int eventID, optional device name).
void registerNodeDeviceAny(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t eventId = args.i32();
    std::optional<std::string> device;
    if (args.present()) {
        device = args.string(proto::kStringMax);
    }
    auto reg = registration(call, args, Kind::NodeDevice, eventId, proto::kNodeDeviceEventIdLast);
    if (!reg) {
        return;
    }
    reg->onlyName = device;
    // As for the other daemons: nodedevd's signals count once the bridge follows it.
    services.nodeDevices.whenSynced(
        [&services, call, reg = *reg](Result<void>) { addRegistration(services, call, reg); });
}

// CONNECT_SECRET_EVENT_REGISTER_ANY (int eventID, optional secret: uuid, usage type, usage
// id). Accepted as libvirtd accepts it; with no secrets kept, none ever fires.
void registerSecretAny(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t eventId = args.i32();
    std::optional<UuidBytes> secret;
    if (args.present()) {
        secret = readUuid(args);
        args.i32();
        args.string(proto::kStringMax);
    }
    auto reg = registration(call, args, Kind::Secret, eventId, proto::kSecretEventIdLast);
    if (!reg) {
        return;
    }
    reg->only = secret;
    addRegistration(services, call, *reg);
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

// Node device events; secret registrations, which nothing fires.
constexpr Procedure kNodeDeviceProcedures[] = {
    {proto::ConnectNodeDeviceEventRegisterAny, "virConnectNodeDeviceEventRegisterAny", Access::Read,
     registerNodeDeviceAny},
    {proto::ConnectNodeDeviceEventDeregisterAny, "virConnectNodeDeviceEventDeregisterAny",
     Access::Read, deregisterObjectAny<Kind::NodeDevice>},
    {proto::ConnectSecretEventRegisterAny, "virConnectSecretEventRegisterAny", Access::Read,
     registerSecretAny},
    {proto::ConnectSecretEventDeregisterAny, "virConnectSecretEventDeregisterAny", Access::Read,
     deregisterObjectAny<Kind::Secret>},
};

// Sends one message, built by `write(writer, callbackId)`, to every registration of `kind`
// for `eventId` that `wants`.
template <typename Wants, typename Write>
void deliverTo(const EventForwarder::ForEachClient& forEachClient, int32_t procedure, Kind kind,
               int32_t eventId, const Wants& wants, const Write& write) {
    Header header;
    header.procedure = procedure;
    header.type = static_cast<uint32_t>(proto::MessageType::Message);
    header.serial = kEventSerial;
    header.status = static_cast<uint32_t>(proto::MessageStatus::Ok);
    forEachClient([&](Client& client) {
        // Copied: sendMessage may close the client, which clears its registrations.
        auto registrations = client.events();
        for (const auto& [callbackId, reg] : registrations) {
            if (reg.kind != kind || reg.eventId != eventId || !wants(reg)) {
                continue;
            }
            xdr::Writer w;
            write(w, callbackId);
            client.sendMessage(header, w.bytes());
        }
    });
}

// The same, for registrations that want events of `uuid` (or of every object).
template <typename Write>
void deliver(const EventForwarder::ForEachClient& forEachClient, int32_t procedure, Kind kind,
             int32_t eventId, const UuidBytes& uuid, const Write& write) {
    deliverTo(
        forEachClient, procedure, kind, eventId,
        [&uuid](const EventRegistration& reg) { return !reg.only || *reg.only == uuid; }, write);
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

std::span<const Procedure> nodeDeviceEventProcedures() {
    return kNodeDeviceProcedures;
}

void EventForwarder::forwardNodeDevice(const std::string& name, int32_t event, int32_t detail) {
    deliverTo(
        m_forEachClient, proto::NodeDeviceEventLifecycle, Kind::NodeDevice,
        proto::kNodeDeviceEventIdLifecycle,
        [&name](const EventRegistration& reg) { return !reg.onlyName || *reg.onlyName == name; },
        [&](xdr::Writer& w, int32_t callbackId) {
            w.i32(callbackId);
            w.string(name);
            w.i32(event);
            w.i32(detail);
        });
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
