// SPDX-License-Identifier: LGPL-2.1-or-later
#include "procedures.hpp"

#include "rpc_error.hpp"
#include "virtswarm/libvirt_enums.hpp"

namespace virtswarm::bridge {

namespace {

// virConnectListAllDomainsFlags (also the filter bits of virConnectGetAllDomainStats)
constexpr uint32_t kListActive = 1, kListInactive = 2, kListPersistent = 4, kListTransient = 8,
                   kListRunning = 16, kListPaused = 32, kListShutoff = 64, kListOther = 128,
                   kListManagedSave = 256, kListNoManagedSave = 512, kListAutostart = 1024,
                   kListNoAutostart = 2048, kListHasSnapshot = 4096, kListNoSnapshot = 8192,
                   kListHasCheckpoint = 16384, kListNoCheckpoint = 32768;

} // namespace

// libvirt's filter semantics: in each pair (or group) of flags, none set means "either".
bool matchesListFlags(const CachedDomain& d, uint32_t flags) {
    auto group = [flags](uint32_t yes, uint32_t no, bool value) {
        bool wantYes = (flags & yes) != 0, wantNo = (flags & no) != 0;
        return (!wantYes && !wantNo) || (wantYes && value) || (wantNo && !value);
    };
    if (!group(kListActive, kListInactive, d.active()) ||
        !group(kListPersistent, kListTransient, d.persistent) ||
        !group(kListAutostart, kListNoAutostart, d.autostart) ||
        !group(kListManagedSave, kListNoManagedSave, d.hasManagedSave) ||
        !group(kListHasSnapshot, kListNoSnapshot, false) ||
        !group(kListHasCheckpoint, kListNoCheckpoint, false)) {
        return false;
    }
    uint32_t stateFlags = flags & (kListRunning | kListPaused | kListShutoff | kListOther);
    if (stateFlags == 0) {
        return true;
    }
    int32_t state = libvirtStateNumber(d.state);
    return ((stateFlags & kListRunning) != 0 && state == 1) ||
           ((stateFlags & kListPaused) != 0 && state == 3) ||
           ((stateFlags & kListShutoff) != 0 && state == 5) ||
           ((stateFlags & kListOther) != 0 && state != 1 && state != 3 && state != 5);
}

bool argsDone(const CallPtr& call, const xdr::Reader& args) {
    auto r = args.finish();
    if (!r) {
        call->fail(badArguments(call->procedure(), r.error().message()));
        return false;
    }
    return true;
}

RemoteDomain remoteDomain(const CachedDomain& domain) {
    return RemoteDomain{domain.name, domain.uuid, domain.active() ? domain.id : -1};
}

void withDomain(Services& services, const CallPtr& call, const RemoteDomain& dom,
                std::function<void(const CachedDomain&)> then) {
    whenCacheSynced(services.registry, call,
                    [call, dom, then = std::move(then)](const DomainCache& cache) {
                        const CachedDomain* d = cache.byUuid(dom.uuid);
                        if (d == nullptr) {
                            call->fail(Error(Code::NoSuchDomain, "no domain with matching uuid '" +
                                                                     formatUuid(dom.uuid) + "' (" +
                                                                     dom.name + ")"));
                            return;
                        }
                        then(*d);
                    });
}

RemoteNetwork remoteNetwork(const CachedNetwork& network) {
    return RemoteNetwork{network.name, network.uuid};
}

void withNetwork(Services& services, const CallPtr& call, const RemoteNetwork& net,
                 std::function<void(const CachedNetwork&)> then) {
    whenCacheSynced(services.networks, call,
                    [call, net, then = std::move(then)](const NetworkCache& cache) {
                        const CachedNetwork* n = cache.byUuid(net.uuid);
                        if (n == nullptr) {
                            call->fail(Error(Code::NoSuchNetwork,
                                             "no network with matching uuid '" +
                                                 formatUuid(net.uuid) + "' (" + net.name + ")"));
                            return;
                        }
                        then(*n);
                    });
}

void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const PolkitDetails& details, std::function<void()> then) {
    auto client = call->client();
    if (!client) {
        return; // gone: nothing to answer, nothing to do on its behalf
    }
    const PeerIdentity& peer = client->peer();
    if (!peer.known) {
        call->fail(Error(Code::AccessDenied, "not authorized for " + actionId +
                                                 ": the connection carries no credentials"));
        return;
    }
    services.authority.checkProcess(peer.pid, peer.uid, actionId, details,
                                    [call, then = std::move(then)](Result<void> verdict) {
                                        if (!verdict) {
                                            call->fail(verdict.error());
                                            return;
                                        }
                                        if (call->client()) {
                                            then();
                                        }
                                    });
}

void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const std::string& domainName, const UuidBytes& uuid, std::function<void()> then) {
    authorize(services, call, actionId,
              PolkitDetails{{"domain_name", domainName}, {"domain_uuid", formatUuid(uuid)}},
              std::move(then));
}

void authorizeNetwork(Services& services, const CallPtr& call, const std::string& actionId,
                      const std::string& networkName, const UuidBytes& uuid,
                      std::function<void()> then) {
    authorize(services, call, actionId,
              PolkitDetails{{"network_name", networkName}, {"network_uuid", formatUuid(uuid)}},
              std::move(then));
}

} // namespace virtswarm::bridge
