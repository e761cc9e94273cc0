// SPDX-License-Identifier: LGPL-2.1-or-later
// Device procedures: the serial console as a libvirt stream (DOMAIN_OPEN_CONSOLE) and
// device hotplug (DOMAIN_ATTACH/DETACH_DEVICE[_FLAGS]) and media changes
// (DOMAIN_UPDATE_DEVICE_FLAGS: virsh change-media).
#include "console_stream.hpp"
#include "procedures.hpp"
#include "protocol.hpp"

#include <utility>

namespace virtswarm::bridge {
namespace {

constexpr uint32_t kAffectLive = 1;   // VIR_DOMAIN_AFFECT_LIVE
constexpr uint32_t kAffectConfig = 2; // VIR_DOMAIN_AFFECT_CONFIG
// VIR_DOMAIN_DEVICE_MODIFY_FORCE: eject even a locked tray, which the swarm always does.
constexpr uint32_t kModifyForce = 4;
constexpr uint32_t kConsoleForce = 1; // VIR_DOMAIN_CONSOLE_FORCE
// Each open console holds a file descriptor.
constexpr size_t kMaxStreamsPerClient = 16;

void openConsole(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    auto device = args.optionalString(proto::kStringMax);
    // FORCE takes the console from the session holding it; SAFE (a console that handles
    // concurrent access safely) holds for every console here, which the shim relays.
    bool force = (args.u32() & kConsoleForce) != 0;
    if (!argsDone(call, args)) {
        return;
    }
    if (auto client = call->client(); client && client->streams().size() >= kMaxStreamsPerClient) {
        call->fail(Error(Code::OperationFailed, "too many open streams on this connection"));
        return;
    }
    withDomain(services, call, dom, [&services, call, device, force](const CachedDomain& d) {
        std::string path = d.path;
        authorize(services, call, "org.virtswarm.domain.open-console", d.name, d.uuid,
                  [&services, call, path, device, force] {
                      services.registry.openConsole(path, device.value_or(""), force,
                                                    [&services, call](Result<sdbus::UnixFd> fd) {
                                                        auto client = call->client();
                                                        if (!fd) {
                                                            call->fail(fd.error());
                                                            return;
                                                        }
                                                        if (!client) {
                                                            return;
                                                        }
                                                        // The reply first: the client attaches its
                                                        // stream to it.
                                                        call->replyVoid();
                                                        ConsoleStream::attach(services.loop, client,
                                                                              call->header(),
                                                                              fd.value().release());
                                                    });
                  });
    });
}

void forwardDeviceChange(Services& services, const CallPtr& call, const RemoteDomain& dom,
                         const std::string& method, const std::string& xml, Options options) {
    withDomain(services, call, dom, [&services, call, method, xml, options](const CachedDomain& d) {
        std::string path = d.path;
        authorize(services, call, "org.virtswarm.domain.write", d.name, d.uuid,
                  [&services, call, path, method, xml, options] {
                      services.registry.changeDevice(path, method, xml, options,
                                                     [call](Result<void> r) {
                                                         if (r) {
                                                             call->replyVoid();
                                                         } else {
                                                             call->fail(r.error());
                                                         }
                                                     });
                  });
    });
}

void changeDevice(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t proc = call->procedure();
    bool withFlags =
        proc == proto::DomainAttachDeviceFlags || proc == proto::DomainDetachDeviceFlags;
    bool attach = proc == proto::DomainAttachDevice || proc == proto::DomainAttachDeviceFlags;
    RemoteDomain dom = readDomain(args);
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = withFlags ? args.u32() : 0;
    if (!argsDone(call, args)) {
        return;
    }
    Options options;
    if ((flags & kAffectConfig) != 0) {
        options["config"] = sdbus::Variant(true);
    }
    forwardDeviceChange(services, call, dom, attach ? "AttachDevice" : "DetachDevice", xml,
                        std::move(options));
}

// virsh change-media sends the cdrom's <disk> as dumpxml showed it, its <source> changed
// or gone; the registry picks live or persistent as libvirt's AFFECT_* flags say.
void updateDevice(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if (!flagsKnown(call, flags, kAffectLive | kAffectConfig | kModifyForce)) {
        return;
    }
    Options options;
    for (auto [bit, option] :
         {std::pair{kAffectLive, "live"}, std::pair{kAffectConfig, "config"}}) {
        if ((flags & bit) != 0) {
            options[option] = sdbus::Variant(true);
        }
    }
    forwardDeviceChange(services, call, dom, "UpdateDevice", xml, std::move(options));
}

constexpr Procedure kProcedures[] = {
    {proto::DomainOpenConsole, "virDomainOpenConsole", Access::Write, openConsole},
    {proto::DomainAttachDevice, "virDomainAttachDevice", Access::Write, changeDevice},
    {proto::DomainAttachDeviceFlags, "virDomainAttachDeviceFlags", Access::Write, changeDevice},
    {proto::DomainDetachDevice, "virDomainDetachDevice", Access::Write, changeDevice},
    {proto::DomainDetachDeviceFlags, "virDomainDetachDeviceFlags", Access::Write, changeDevice},
    {proto::DomainUpdateDeviceFlags, "virDomainUpdateDeviceFlags", Access::Write, updateDevice},
};

} // namespace

std::span<const Procedure> domainDeviceProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
