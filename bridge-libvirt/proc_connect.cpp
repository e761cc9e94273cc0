// SPDX-License-Identifier: LGPL-2.1-or-later
// Connection procedures: the handshake (AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN/CLOSE,
// close callbacks) and facts about the host and hypervisor.
#include "connect_uri.hpp"
#include "host_info.hpp"
#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/emulator_query.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/polkit_actions.hpp"

#include <algorithm>

namespace virtswarm::bridge {
namespace {

// The libvirt release whose protocol and behaviour the bridge follows (virsh `version`'s
// "Using library"); the hypervisor's version is the installed QEMU's (emulator_query.hpp).
constexpr uint64_t kLibraryVersion = 9000000;
constexpr int32_t kMaxVcpus = 255;
constexpr size_t kCpuModelsMax = 8192; // REMOTE_CONNECT_CPU_MODELS_MAX

void replyString(const CallPtr& call, const std::string& s) {
    xdr::Writer w;
    w.string(s);
    call->reply(w);
}

void replyInt(const CallPtr& call, int32_t v) {
    xdr::Writer w;
    w.i32(v);
    call->reply(w);
}

void replyHyper(const CallPtr& call, uint64_t v) {
    xdr::Writer w;
    w.u64(v);
    call->reply(w);
}

void authList(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    // AUTH_NONE: identity comes from SO_PEERCRED and every operation is checked by polkit,
    // so there is nothing to negotiate.
    xdr::Writer w;
    w.u32(1);
    w.i32(0);
    call->reply(w);
}

void supportsFeature(Services&, const CallPtr& call, xdr::Reader& args) {
    int32_t feature = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    auto client = call->client();
    bool supported = (feature == proto::kFeatureFdPassing && client && client->passesFds()) ||
                     feature == proto::kFeatureProgramKeepalive ||
                     feature == proto::kFeatureRemoteEventCallback ||
                     feature == proto::kFeatureRemoteCloseCallback ||
                     feature == proto::kFeatureTypedParamString;
    replyInt(call, supported ? 1 : 0);
}

// libvirt's classic authorization, asked once per connection: a client polkit grants
// org.libvirt.unix.manage gets full access (Client::grantLibvirtManage). Root has it
// anyway, a read-only connection never, and any other answer — no, a challenge (never
// asked interactively), or the action not installed (libvirt-daemon-system absent) —
// leaves the client with the per-operation org.virtswarm.* checks. The open is answered
// once polkit has.
void askLibvirtManage(Services& services, const CallPtr& call, Client& client) {
    const PeerIdentity& peer = client.peer();
    if (client.readOnly() || !peer.known || peer.uid == 0) {
        call->replyVoid();
        return;
    }
    services.authority.checkProcess(peer.pid, peer.uid, std::string(actions::kLibvirtManageAction),
                                    {}, [call](Result<void> verdict) {
                                        auto opened = call->client();
                                        if (!opened) {
                                            return;
                                        }
                                        if (verdict) {
                                            opened->grantLibvirtManage();
                                            log::info(opened->describe() + " manages libvirt (" +
                                                      std::string(actions::kLibvirtManageAction) +
                                                      "): full access");
                                        }
                                        call->replyVoid();
                                    });
}

// libvirt's gate for read-only connections, asked before one opens, as libvirtd asks it on
// its read-only socket: org.libvirt.unix.monitor. A "no" (an admin's rule) refuses the
// connection; a challenge does too, as no agent is ever asked. A yes only opens the
// connection: each read it makes is still checked with its own org.virtswarm.* action,
// so an admin's finer read rules are not overridden by monitor's default "yes".
// Root is not asked.
void openReadOnly(Services& services, const CallPtr& call, Client& client, std::string uri) {
    const PeerIdentity& peer = client.peer();
    // A TCP client has no credentials to ask polkit about: the TCP listener is the
    // administrator's opt-in (libvirtd's listen_tcp with auth_tcp "none") and read-only.
    if (!peer.known || peer.uid == 0) {
        client.open(std::move(uri), true);
        call->replyVoid();
        return;
    }
    services.authority.checkProcess(
        peer.pid, peer.uid, std::string(actions::kLibvirtMonitorAction), {},
        [call, uri = std::move(uri)](Result<void> verdict) mutable {
            auto opening = call->client();
            if (!opening) {
                return;
            }
            if (!verdict) {
                log::info(opening->describe() +
                          " refused a read-only connection: " + verdict.error().message());
                call->fail(connectionRefused(verdict.error(), actions::kLibvirtMonitorAction));
                return;
            }
            opening->open(std::move(uri), true);
            call->replyVoid();
        });
}

void connectOpen(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto name = args.optionalString(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    ConnectUriVerdict uri = acceptConnectUri(name, services.mode);
    if (!uri.accepted) {
        call->fail(noConnectionDriver(uri.refusal));
        return;
    }
    // The domain cache is warmed for the commands that follow. A registry that cannot be
    // reached (hypervisord not installed) does not fail the open: the storage and network
    // calls work without it, and each domain call answers that the hypervisor is
    // unavailable (the synchronisation's error).
    services.registry.whenSynced([&services, call, uri = uri.uri, flags](Result<void>) {
        auto client = call->client();
        if (!client) {
            return;
        }
        if ((flags & proto::kConnectReadOnly) != 0 || client->readOnlySocket()) {
            openReadOnly(services, call, *client, uri);
            return;
        }
        client->open(uri, false);
        askLibvirtManage(services, call, *client);
    });
}

void connectClose(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    if (auto client = call->client()) {
        client->events().clear();
    }
    call->replyVoid();
}

void voidReply(Services&, const CallPtr& call, xdr::Reader& args) {
    if (argsDone(call, args)) {
        call->replyVoid();
    }
}

void getType(Services&, const CallPtr& call, xdr::Reader& args) {
    if (argsDone(call, args)) {
        replyString(call, "QEMU");
    }
}

void getVersion(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    services.qemuVersion.get([call](Result<std::string> output) {
        if (!output) {
            call->fail(output.error());
            return;
        }
        auto version = parseQemuVersion(output.value());
        if (!version) {
            call->fail(Error(Code::OperationFailed, "the emulator printed no version"));
            return;
        }
        replyHyper(call, *version);
    });
}

void getCpuModelNames(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string arch = args.string(proto::kStringMax);
    int32_t needResults = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (arch != "x86_64" && arch != "i686") {
        call->fail(Error(Code::InvalidArgs, "cannot find CPU models for architecture " + arch));
        return;
    }
    services.qemuCpuModels.get([call, needResults](Result<std::string> output) {
        if (!output) {
            call->fail(output.error());
            return;
        }
        auto models = parseCpuModels(output.value());
        models.resize(std::min<size_t>(models.size(), kCpuModelsMax));
        xdr::Writer w;
        w.u32(needResults != 0 ? static_cast<uint32_t>(models.size()) : 0);
        for (size_t i = 0; needResults != 0 && i < models.size(); ++i) {
            w.string(models[i]);
        }
        w.i32(static_cast<int32_t>(models.size()));
        call->reply(w);
    });
}

void getLibVersion(Services&, const CallPtr& call, xdr::Reader& args) {
    if (argsDone(call, args)) {
        replyHyper(call, kLibraryVersion);
    }
}

void getHostname(Services&, const CallPtr& call, xdr::Reader& args) {
    if (argsDone(call, args)) {
        replyString(call, hostName());
    }
}

void getUri(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    auto client = call->client();
    replyString(call, client ? client->uri() : defaultConnectUri(services.mode));
}

void isSecure(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    // A local UNIX socket is secure; plain TCP is not.
    auto client = call->client();
    replyInt(call, client && client->peer().known ? 1 : 0);
}

void getMaxVcpus(Services&, const CallPtr& call, xdr::Reader& args) {
    (void)args.optionalString(proto::kStringMax);
    if (argsDone(call, args)) {
        replyInt(call, kMaxVcpus);
    }
}

void nodeGetInfo(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    NodeInfo n = nodeInfo();
    xdr::Writer w;
    writeFixedCharArray(w, n.model, 32);
    w.u64(n.memoryKiB);
    w.i32(n.cpus);
    w.i32(n.mhz);
    w.i32(n.nodes);
    w.i32(n.sockets);
    w.i32(n.cores);
    w.i32(n.threads);
    call->reply(w);
}

void getCapabilities(Services& services, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    services.registry.getCapabilities([call](Result<std::string> r) {
        if (!r) {
            call->fail(r.error());
            return;
        }
        replyString(call, r.value());
    });
}

void getDomainCapabilities(Services&, const CallPtr& call, xdr::Reader& args) {
    auto emulator = args.optionalString(proto::kStringMax);
    auto arch = args.optionalString(proto::kStringMax);
    auto machine = args.optionalString(proto::kStringMax);
    auto virtType = args.optionalString(proto::kStringMax);
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    replyString(call, domainCapabilitiesXml(emulator.value_or(""), arch.value_or(""),
                                            machine.value_or(""), virtType.value_or("")));
}

void nodeGetSecurityModel(Services&, const CallPtr& call, xdr::Reader& args) {
    if (!argsDone(call, args)) {
        return;
    }
    // No security driver: empty model and DOI, which clients show as "none".
    xdr::Writer w;
    writeCharArray(w, "");
    writeCharArray(w, "");
    call->reply(w);
}

constexpr Procedure kProcedures[] = {
    {proto::AuthList, "virConnectAuthList", Access::Anonymous, authList},
    {proto::ConnectSupportsFeature, "virConnectSupportsFeature", Access::Anonymous,
     supportsFeature},
    {proto::ConnectOpen, "virConnectOpen", Access::Anonymous, connectOpen},
    {proto::ConnectClose, "virConnectClose", Access::Read, connectClose},
    {proto::ConnectRegisterCloseCallback, "virConnectRegisterCloseCallback", Access::Read,
     voidReply},
    {proto::ConnectUnregisterCloseCallback, "virConnectUnregisterCloseCallback", Access::Read,
     voidReply},
    {proto::ConnectGetType, "virConnectGetType", Access::Read, getType},
    {proto::ConnectGetVersion, "virConnectGetVersion", Access::Read, getVersion},
    {proto::ConnectGetLibVersion, "virConnectGetLibVersion", Access::Read, getLibVersion},
    {proto::ConnectGetHostname, "virConnectGetHostname", Access::Read, getHostname},
    {proto::ConnectGetUri, "virConnectGetURI", Access::Read, getUri},
    {proto::ConnectIsSecure, "virConnectIsSecure", Access::Read, isSecure},
    {proto::ConnectGetMaxVcpus, "virConnectGetMaxVcpus", Access::Read, getMaxVcpus},
    {proto::NodeGetInfo, "virNodeGetInfo", Access::Read, nodeGetInfo},
    {proto::ConnectGetCapabilities, "virConnectGetCapabilities", Access::Read, getCapabilities},
    {proto::ConnectGetDomainCapabilities, "virConnectGetDomainCapabilities", Access::Read,
     getDomainCapabilities},
    {proto::NodeGetSecurityModel, "virNodeGetSecurityModel", Access::Read, nodeGetSecurityModel},
    {proto::ConnectGetCpuModelNames, "virConnectGetCPUModelNames", Access::Read, getCpuModelNames},
};

} // namespace

std::span<const Procedure> connectProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
