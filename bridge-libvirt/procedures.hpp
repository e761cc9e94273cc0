// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "call.hpp"
#include "domain_cache.hpp"
#include "network_client.hpp"
#include "registry_client.hpp"
#include "virtswarm/polkit.hpp"

#include <functional>
#include <span>

// What procedure handlers share: the services they use, the table entry they are
// described by, and small helpers for the steps every handler repeats.
namespace virtswarm::bridge {

class EventForwarder;
class EmulatorQuery;

struct Services {
    EventLoop& loop;
    RegistryClient& registry;
    NetworkClient& networks;
    Authority& authority;
    EventForwarder& events;
    BusMode mode;                 // which URI the bridge serves (connect_uri.hpp)
    EmulatorQuery& qemuVersion;   // --version
    EmulatorQuery& qemuCpuModels; // -cpu help
};

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
std::span<const Procedure> eventProcedures();
std::span<const Procedure> domainStatsProcedures();
std::span<const Procedure> domainAccountingProcedures();
std::span<const Procedure> domainDeviceProcedures();
std::span<const Procedure> networkQueryProcedures();
std::span<const Procedure> networkLifecycleProcedures();
std::span<const Procedure> networkEventProcedures();

// Ends argument decoding: false (and the call answered with VIR_ERR_RPC) when the
// arguments were malformed or followed by garbage.
bool argsDone(const CallPtr& call, const xdr::Reader& args);

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

RemoteDomain remoteDomain(const CachedDomain& domain);

// The filter flags of CONNECT_LIST_ALL_DOMAINS (and GET_ALL_DOMAIN_STATS) applied to one
// domain.
bool matchesListFlags(const CachedDomain& domain, uint32_t flags);

// Runs `then` with the cached domain the client named (by UUID, as libvirt's drivers look
// domains up), after the cache is in sync; answers NO_DOMAIN itself otherwise.
void withDomain(Services& services, const CallPtr& call, const RemoteDomain& dom,
                std::function<void(const CachedDomain&)> then);

RemoteNetwork remoteNetwork(const CachedNetwork& network);

// Runs `then` with the cached network the client named (by UUID), after the network cache
// is in sync; answers NO_NETWORK itself otherwise.
void withNetwork(Services& services, const CallPtr& call, const RemoteNetwork& net,
                 std::function<void(const CachedNetwork&)> then);

// polkit, for the client's process (unix-process subject from SO_PEERCRED), with the same
// action ids and details as the D-Bus API. Runs `then` when allowed; answers the call with
// the denial otherwise. Clients without credentials (TCP) are denied.
void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const PolkitDetails& details, std::function<void()> then);
// ... with the details of a domain (domain_name, domain_uuid) ...
void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const std::string& domainName, const UuidBytes& uuid, std::function<void()> then);
// ... or of a network (network_name, network_uuid).
void authorizeNetwork(Services& services, const CallPtr& call, const std::string& actionId,
                      const std::string& networkName, const UuidBytes& uuid,
                      std::function<void()> then);

} // namespace virtswarm::bridge
