// SPDX-License-Identifier: LGPL-2.1-or-later
#include "procedures.hpp"

#include "rpc_error.hpp"

namespace virtswarm::bridge {

bool argsDone(const CallPtr& call, const xdr::Reader& args) {
    auto r = args.finish();
    if (!r) {
        call->fail(badArguments(call->procedure(), r.error().message()));
        return false;
    }
    return true;
}

bool flagsKnown(const CallPtr& call, uint32_t flags, uint32_t known) {
    if ((flags & ~known) != 0) {
        call->fail(Error(Code::InvalidArgs, "unsupported flags (" + std::to_string(flags) + ")"));
        return false;
    }
    return true;
}

void replyVoidOrFail(const CallPtr& call, const Result<void>& r) {
    if (r) {
        call->replyVoid();
    } else {
        call->fail(r.error());
    }
}

void replyStringOrFail(const CallPtr& call, const Result<std::string>& r) {
    if (!r) {
        call->fail(r.error());
        return;
    }
    xdr::Writer w;
    w.string(r.value());
    call->reply(w);
}

void authorize(Services& services, const CallPtr& call, const std::string& actionId,
               const PolkitDetails& details, std::function<void()> then) {
    auto client = call->client();
    if (!client) {
        return; // gone: nothing to answer, nothing to do on its behalf
    }
    if (client->managesLibvirt()) {
        then(); // libvirt's own grant: full access, as libvirtd gives it
        return;
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

} // namespace virtswarm::bridge
