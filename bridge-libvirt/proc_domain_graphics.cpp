// SPDX-License-Identifier: LGPL-2.1-or-later
// Graphics on sockets (DOMAIN_OPEN_GRAPHICS, DOMAIN_OPEN_GRAPHICS_FD): what virt-manager
// and virt-viewer use on a local connection instead of a VNC or SPICE port. The socket
// travels with the message as a file descriptor (CALL_WITH_FDS, REPLY_WITH_FDS), so it
// works only on the UNIX sockets.
#include "procedures.hpp"
#include "protocol.hpp"

#include <memory>
#include <utility>

namespace virtswarm::bridge {
namespace {

constexpr uint32_t kSkipAuth = 1; // VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH

struct GraphicsRequest {
    RemoteDomain dom;
    uint32_t index = 0;
    bool skipAuth = false;
};

std::optional<GraphicsRequest> readRequest(const CallPtr& call, xdr::Reader& args) {
    GraphicsRequest request;
    request.dom = readDomain(args);
    request.index = args.u32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kSkipAuth)) {
        return std::nullopt;
    }
    request.skipAuth = (flags & kSkipAuth) != 0;
    return request;
}

// The domain looked up and org.virtswarm.domain.open-graphics granted (libvirt's
// domain:open_graphics), then `then(path)`.
void authorizeGraphics(Services& services, const CallPtr& call, const RemoteDomain& dom,
                       std::function<void(const std::string& path)> then) {
    withDomain(services, call, dom, [&services, call, then](const CachedDomain& d) {
        std::string path = d.path;
        authorize(services, call, "org.virtswarm.domain.open-graphics", d.name, d.uuid,
                  [then, path] { then(path); });
    });
}

// virDomainOpenGraphics: the client made a socket pair and passes one end; QEMU serves it.
void openGraphics(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto request = readRequest(call, args);
    if (!request) {
        return;
    }
    auto socket = call->takeFd(0);
    if (!socket) {
        call->fail(socket.error());
        return;
    }
    auto shared = std::make_shared<sdbus::UnixFd>(std::move(socket).value());
    authorizeGraphics(services, call, request->dom,
                      [&services, call, request = *request, shared](const std::string& path) {
                          services.registry.addGraphicsClient(
                              path, request.index, *shared, request.skipAuth,
                              [call](Result<void> r) { replyVoidOrFail(call, r); });
                      });
}

// virDomainOpenGraphicsFD: the registry makes the socket pair; the client gets its end
// with the reply.
void openGraphicsFd(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto request = readRequest(call, args);
    if (!request) {
        return;
    }
    if (auto client = call->client(); client && !client->passesFds()) {
        call->fail(Error(Code::NotSupported, "fd passing is not supported by this connection"));
        return;
    }
    authorizeGraphics(services, call, request->dom,
                      [&services, call, request = *request](const std::string& path) {
                          services.registry.openGraphics(path, request.index, request.skipAuth,
                                                         [call](Result<sdbus::UnixFd> fd) {
                                                             if (!fd) {
                                                                 call->fail(fd.error());
                                                                 return;
                                                             }
                                                             std::vector<sdbus::UnixFd> fds;
                                                             fds.push_back(std::move(fd).value());
                                                             call->replyWithFds(xdr::Writer(),
                                                                                std::move(fds));
                                                         });
                      });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainOpenGraphics, "virDomainOpenGraphics", Access::Write, openGraphics},
    {proto::DomainOpenGraphicsFd, "virDomainOpenGraphicsFD", Access::Write, openGraphicsFd},
};

} // namespace

std::span<const Procedure> domainGraphicsProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
