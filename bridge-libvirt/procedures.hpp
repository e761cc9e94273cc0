// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "call.hpp"
#include "domain_cache.hpp"
#include "network_client.hpp"
#include "node_device_client.hpp"
#include "nwfilter_client.hpp"
#include "registry_client.hpp"
#include "storage_client.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/polkit_actions.hpp"

#include <functional>
#include <span>

namespace virtswarm {
class EmulatorQuery;
}

// What procedure handlers share: the services they use, the table entry they are
// described by, and small helpers for the steps every handler repeats.
namespace virtswarm::bridge {

class EventForwarder;

struct Services {
    EventLoop& loop;
    RegistryClient& registry;
    NetworkClient& networks;
    Authority& authority;
    EventForwarder& events;
    BusMode mode;                  // which URI the bridge serves (connect_uri.hpp)
    EmulatorQuery& qemuVersion;    // --version
    EmulatorQuery& qemuCpuModels;  // -cpu help
    StorageClient& storage;        // pools and volumes (storaged)
    NodeDeviceClient& nodeDevices; // host devices (nodedevd)
    NWFilterClient& nwfilters;     // network filters (nwfilterd)

    // The client of an object kind (DomainKind: the registry, NetworkKind: networkd).
    template <typename Kind> ObjectClient<Kind>& objects();
};

template <> inline ObjectClient<DomainKind>& Services::objects<DomainKind>() {
    return registry;
}
template <> inline ObjectClient<NetworkKind>& Services::objects<NetworkKind>() {
    return networks;
}
template <> inline ObjectClient<StoragePoolKind>& Services::objects<StoragePoolKind>() {
    return storage.pools;
}
template <> inline ObjectClient<StorageVolKind>& Services::objects<StorageVolKind>() {
    return storage.volumes;
}

// Who may call a procedure. Anonymous: before CONNECT_OPEN (handshake). Read: any open
// connection. Write: refused with OPERATION_DENIED on read-only connections before
// anything else happens.
enum class Access { Anonymous, Read, Write };

using Handler = void (*)(Services& services, const CallPtr& call, xdr::Reader& args);

struct Procedure {
    int32_t number;
    const char* name; // the libvirt API, for messages ("virDomainCreate")
    Access access;
    Handler handler;
};

std::span<const Procedure> connectProcedures();
std::span<const Procedure> nodeProcedures();
std::span<const Procedure> domainQueryProcedures();
std::span<const Procedure> domainLifecycleProcedures();
std::span<const Procedure> domainSaveProcedures();
std::span<const Procedure> domainSnapshotProcedures();
std::span<const Procedure> eventProcedures();
std::span<const Procedure> domainStatsProcedures();
std::span<const Procedure> domainAccountingProcedures();
std::span<const Procedure> domainDeviceProcedures();
std::span<const Procedure> domainGraphicsProcedures();
std::span<const Procedure> domainTuningProcedures();
std::span<const Procedure> domainJobProcedures();
std::span<const Procedure> networkQueryProcedures();
std::span<const Procedure> networkLifecycleProcedures();
std::span<const Procedure> networkEventProcedures();
std::span<const Procedure> storagePoolQueryProcedures();
std::span<const Procedure> storagePoolLifecycleProcedures();
std::span<const Procedure> storageVolProcedures();
std::span<const Procedure> storageVolStreamProcedures();
std::span<const Procedure> storageEventProcedures();
std::span<const Procedure> nodeDeviceEventProcedures();
std::span<const Procedure> interfaceProcedures();
std::span<const Procedure> domainAddressProcedures();
std::span<const Procedure> domainAgentProcedures();
std::span<const Procedure> nodeDeviceProcedures();
std::span<const Procedure> nwfilterProcedures();
std::span<const Procedure> nwfilterBindingProcedures();

// Ends argument decoding: false (and the call answered with VIR_ERR_RPC) when the
// arguments were malformed or followed by garbage.
bool argsDone(const CallPtr& call, const xdr::Reader& args);
// False (and the call answered with InvalidArgs) when `flags` has a bit outside `known`,
// as libvirt's virCheckFlags.
bool flagsKnown(const CallPtr& call, uint32_t flags, uint32_t known = 0);

// Answers a call whose work has no result: void, or the error.
void replyVoidOrFail(const CallPtr& call, const Result<void>& r);
// ... whose work has a string as result (an XML document): the string, or the error.
void replyStringOrFail(const CallPtr& call, const Result<std::string>& r);

// The entry of a procedure's table (structs with an `int32_t procedure`) for `procedure`,
// or null.
template <typename Entry, size_t N>
const Entry* entryFor(const Entry (&table)[N], int32_t procedure) {
    for (const auto& e : table) {
        if (e.procedure == procedure) {
            return &e;
        }
    }
    return nullptr;
}

// Runs `then` with the service's cache (services.registry's domains, services.networks'
// networks) once it is in sync; answers the call with the error otherwise.
template <typename ServiceSide, typename Then>
void whenCacheSynced(ServiceSide& side, const CallPtr& call, Then then) {
    side.whenSynced([&side, call, then = std::move(then)](Result<void> r) {
        if (!r) {
            call->fail(r.error());
            return;
        }
        then(side.cache());
    });
}

// Runs `then` with the cached object of `Kind` the client named (by UUID, as libvirt's
// drivers look objects up), after the cache is in sync; answers NO_DOMAIN, NO_NETWORK, ...
// itself otherwise.
template <typename Kind>
void withObject(Services& services, const CallPtr& call, const typename Kind::Remote& named,
                std::function<void(const typename Kind::Object&)> then) {
    whenCacheSynced(services.objects<Kind>(), call,
                    [call, named, then = std::move(then)](const typename Kind::Cache& cache) {
                        const auto* object = cache.byUuid(named.uuid);
                        if (object == nullptr) {
                            call->fail(Error(Kind::kWire.missing,
                                             std::string("no ") + Kind::kWire.noun +
                                                 " with matching uuid '" + formatUuid(named.uuid) +
                                                 "' (" + named.name + ")"));
                            return;
                        }
                        then(*object);
                    });
}

inline void withDomain(Services& services, const CallPtr& call, const RemoteDomain& dom,
                       std::function<void(const CachedDomain&)> then) {
    withObject<DomainKind>(services, call, dom, std::move(then));
}

// After the client's check for the Domain `method` (the shared table), calls it with the
// arguments `fill` writes and answers void or the error (proc_domain_tuning.cpp).
void forwardToDomain(Services& services, const CallPtr& call, const RemoteDomain& dom,
                     const actions::MethodAction& method, ServiceClient::Fill fill);

// polkit, for the client's process (unix-process subject from SO_PEERCRED), with the same
// action ids and details as the D-Bus API. Runs `then` when allowed; answers the call with
// the denial otherwise. Clients without credentials (TCP) are denied.
void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const PolkitDetails& details, std::function<void()> then);
// ... for `actionId` on an object of `Kind` with this name and UUID (perhaps not yet
// defined), with the kind's details (domain_name and domain_uuid, network_name and
// network_uuid, ...) ...
template <typename Kind>
void authorizeObject(Services& services, const CallPtr& call, std::string_view actionId,
                     const std::string& name, const UuidBytes& uuid, std::function<void()> then) {
    authorize(services, call, std::string(actionId),
              actions::objectDetails(Kind::kWire.detailPrefix, name, uuid), std::move(then));
}
// ... or for what `method` of the kind's interface needs (the shared table), on `object`.
template <typename Kind>
void authorizeObject(Services& services, const CallPtr& call, const actions::MethodAction& method,
                     const CachedObject& object, std::function<void()> then) {
    authorizeObject<Kind>(services, call, method.actionId, object.name, object.uuid,
                          std::move(then));
}
// The domain form, for the domain procedures.
inline void authorize(Services& services, const CallPtr& call, const std::string& actionId,
                      const std::string& domainName, const UuidBytes& uuid,
                      std::function<void()> then) {
    authorizeObject<DomainKind>(services, call, actionId, domainName, uuid, std::move(then));
}

} // namespace virtswarm::bridge
