// SPDX-License-Identifier: LGPL-2.1-or-later
// Procedures that tune a domain or poke its guest: memory (DOMAIN_SET_MEMORY[_FLAGS],
// SET_MAX_MEMORY: virsh setmem/setmaxmem), vCPUs (DOMAIN_SET_VCPUS[_FLAGS],
// GET_VCPUS_FLAGS: virsh setvcpus/vcpucount), keys and NMI (DOMAIN_SEND_KEY,
// INJECT_NMI), metadata (DOMAIN_SET/GET_METADATA: virsh desc, metadata) and the name
// (DOMAIN_RENAME: virsh domrename). Each checks
// the client's right for the Domain method, then calls it with libvirt's flags as options.
#include "procedures.hpp"
#include "protocol.hpp"
#include "virtswarm/keycodes.hpp"

#include <utility>

namespace virtswarm::bridge {
namespace {

// The Domain methods these procedures call, with their polkit actions (the shared table).
constexpr auto kSetMemory = actions::forMethod(names::kDomainInterface, "SetMemory");
constexpr auto kSetVcpus = actions::forMethod(names::kDomainInterface, "SetVcpus");
constexpr auto kGetVcpus = actions::forMethod(names::kDomainInterface, "GetVcpus");
constexpr auto kSendKey = actions::forMethod(names::kDomainInterface, "SendKey");
constexpr auto kInjectNmi = actions::forMethod(names::kDomainInterface, "InjectNMI");
constexpr auto kSetMetadata = actions::forMethod(names::kDomainInterface, "SetMetadata");
constexpr auto kGetMetadata = actions::forMethod(names::kDomainInterface, "GetMetadata");
constexpr auto kRename = actions::forMethod(names::kDomainInterface, "Rename");

// virDomainModificationImpact, and virDomainMemoryModFlags / virDomainVcpuFlags.
constexpr uint32_t kAffectLive = 1, kAffectConfig = 2, kMaximum = 4;
constexpr uint32_t kVcpuGuest = 8;         // VIR_DOMAIN_VCPU_GUEST: the guest agent's count
constexpr uint32_t kVcpuHotpluggable = 16; // VIR_DOMAIN_VCPU_HOTPLUGGABLE
// virDomainMetadataType
constexpr int32_t kMetadataDescription = 0, kMetadataTitle = 1, kMetadataElement = 2;

// libvirt's flags as the options of the Domain methods; other bits are InvalidArgs.
Result<Options> flagOptions(uint32_t flags, uint32_t allowed) {
    if ((flags & ~allowed) != 0) {
        return Error(Code::InvalidArgs,
                     "unsupported flags (" + std::to_string(flags & ~allowed) + ")");
    }
    Options options;
    for (auto [bit, name] : {std::pair{kAffectLive, "live"}, std::pair{kAffectConfig, "config"},
                             std::pair{kMaximum, "maximum"}}) {
        if ((flags & bit) != 0) {
            options[name] = sdbus::Variant(true);
        }
    }
    return options;
}

// SET_MEMORY[_FLAGS] and SET_MAX_MEMORY (uhyper KiB), SET_VCPUS[_FLAGS] (uint count).
void setAmount(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t proc = call->procedure();
    bool memory = proc == proto::DomainSetMemory || proc == proto::DomainSetMemoryFlags ||
                  proc == proto::DomainSetMaxMemory;
    RemoteDomain dom = readDomain(args);
    uint64_t amount = memory ? args.u64() : args.u32();
    // virDomainSetMemory and virDomainSetVcpus are AFFECT_LIVE; virDomainSetMaxMemory is
    // AFFECT_CURRENT with MAXIMUM.
    uint32_t flags = proc == proto::DomainSetMemoryFlags || proc == proto::DomainSetVcpusFlags
                         ? args.u32()
                     : proc == proto::DomainSetMaxMemory ? kMaximum
                                                         : kAffectLive;
    if (!argsDone(call, args)) {
        return;
    }
    if (!memory && (flags & (kVcpuGuest | kVcpuHotpluggable)) != 0) {
        call->fail(Error(Code::OperationUnsupported,
                         "vCPU counts through the guest agent and vCPU hotplug are not supported"));
        return;
    }
    auto options = flagOptions(flags, kAffectLive | kAffectConfig | kMaximum);
    if (!options) {
        call->fail(options.error());
        return;
    }
    forwardToDomain(services, call, dom, memory ? kSetMemory : kSetVcpus,
                    [memory, amount, options = options.value()](sdbus::MethodCall& m) {
                        if (memory) {
                            m << amount;
                        } else {
                            m << static_cast<uint32_t>(amount);
                        }
                        m << options;
                    });
}

void getVcpusFlags(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if ((flags & kVcpuGuest) != 0) {
        call->fail(Error(Code::NotSupported, "vCPU counts from the guest agent are not supported"));
        return;
    }
    auto options = flagOptions(flags, kAffectLive | kAffectConfig | kMaximum);
    if (!options) {
        call->fail(options.error());
        return;
    }
    withDomain(services, call, dom,
               [&services, call, options = options.value()](const CachedDomain& d) {
                   std::string path = d.path;
                   authorizeObject<DomainKind>(
                       services, call, kGetVcpus, d, [&services, call, path, options] {
                           services.registry.call<uint32_t>(
                               path, "GetVcpus", ServiceClient::kCallTimeout,
                               [options](sdbus::MethodCall& m) { m << options; },
                               [call](Result<uint32_t> count) {
                                   if (!count) {
                                       call->fail(count.error());
                                       return;
                                   }
                                   xdr::Writer w;
                                   w.i32(static_cast<int32_t>(count.value()));
                                   call->reply(w);
                               });
                       });
               });
}

void sendKey(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t codeset = args.u32();
    uint32_t holdtime = args.u32();
    uint32_t n = args.arrayCount(static_cast<uint32_t>(kMaxSendKeys), 4);
    std::vector<uint32_t> keys;
    for (uint32_t i = 0; i < n && args.ok(); ++i) {
        keys.push_back(args.u32());
    }
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    std::string_view set = keycodeSetName(codeset);
    if (flags != 0 || set.empty()) {
        call->fail(Error(Code::InvalidArgs,
                         flags != 0 ? "unsupported flags (" + std::to_string(flags) + ")"
                                    : "keycode set " + std::to_string(codeset) +
                                          " is not supported (linux, xt, atset1, qnum)"));
        return;
    }
    forwardToDomain(services, call, dom, kSendKey,
                    [set = std::string(set), holdtime, keys](sdbus::MethodCall& m) {
                        m << set << holdtime << keys << Options{};
                    });
}

void injectNmi(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if (!flagsKnown(call, flags)) {
        return;
    }
    forwardToDomain(services, call, dom, kInjectNmi, [](sdbus::MethodCall& m) { m << Options{}; });
}

Result<std::string> metadataType(int32_t type) {
    switch (type) {
    case kMetadataDescription:
        return std::string("description");
    case kMetadataTitle:
        return std::string("title");
    case kMetadataElement:
        return std::string("element");
    default:
        return Error(Code::InvalidArgs, "unknown metadata type " + std::to_string(type));
    }
}

void setMetadata(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    int32_t type = args.i32();
    auto metadata = args.optionalString(proto::kStringMax);
    auto key = args.optionalString(proto::kStringMax);
    auto uri = args.optionalString(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    auto typeName = metadataType(type);
    auto options = flagOptions(flags, kAffectLive | kAffectConfig);
    if (!typeName || !options) {
        call->fail(!typeName ? typeName.error() : options.error());
        return;
    }
    forwardToDomain(services, call, dom, kSetMetadata,
                    [type = typeName.value(), metadata = metadata.value_or(""),
                     key = key.value_or(""), uri = uri.value_or(""), options = options.value()](
                        sdbus::MethodCall& m) { m << type << metadata << key << uri << options; });
}

void getMetadata(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    int32_t type = args.i32();
    auto uri = args.optionalString(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    auto typeName = metadataType(type);
    auto options = flagOptions(flags, kAffectLive | kAffectConfig);
    if (!typeName || !options) {
        call->fail(!typeName ? typeName.error() : options.error());
        return;
    }
    withDomain(
        services, call, dom,
        [&services, call, type = typeName.value(), uri = uri.value_or(""),
         options = options.value()](const CachedDomain& d) {
            std::string path = d.path;
            authorizeObject<DomainKind>(
                services, call, kGetMetadata, d, [&services, call, path, type, uri, options] {
                    services.registry.call<std::string>(
                        path, "GetMetadata", ServiceClient::kCallTimeout,
                        [type, uri, options](sdbus::MethodCall& m) { m << type << uri << options; },
                        [call](Result<std::string> r) { replyStringOrFail(call, r); });
                });
        });
}

// remote_domain_rename_args: dom, remote_string new_name, flags (none); ret int retcode.
void renameDomain(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    auto name = args.optionalString(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if (flags != 0 || !name) {
        call->fail(
            Error(Code::InvalidArgs, !name ? "a new domain name is required"
                                           : "unsupported flags (" + std::to_string(flags) + ")"));
        return;
    }
    withDomain(services, call, dom, [&services, call, name = *name](const CachedDomain& d) {
        std::string path = d.path;
        // As libvirt: domain:write, then domain:save.
        auto forward = [&services, call, path, name] {
            services.registry.domainCall(
                path, "Rename", [name](sdbus::MethodCall& m) { m << name << Options{}; },
                [call](Result<void> r) {
                    if (!r) {
                        call->fail(r.error());
                        return;
                    }
                    xdr::Writer w;
                    w.i32(0); // retcode
                    call->reply(w);
                });
        };
        CachedObject subject = d;
        authorizeObject<DomainKind>(
            services, call, kRename, d, [&services, call, subject, forward] {
                authorizeObject<DomainKind>(services, call, kRename.alsoActionId, subject.name,
                                            subject.uuid, forward);
            });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainSetMaxMemory, "virDomainSetMaxMemory", Access::Write, setAmount},
    {proto::DomainSetMemory, "virDomainSetMemory", Access::Write, setAmount},
    {proto::DomainSetMemoryFlags, "virDomainSetMemoryFlags", Access::Write, setAmount},
    {proto::DomainSetVcpus, "virDomainSetVcpus", Access::Write, setAmount},
    {proto::DomainSetVcpusFlags, "virDomainSetVcpusFlags", Access::Write, setAmount},
    {proto::DomainGetVcpusFlags, "virDomainGetVcpusFlags", Access::Read, getVcpusFlags},
    {proto::DomainSendKey, "virDomainSendKey", Access::Write, sendKey},
    {proto::DomainInjectNmi, "virDomainInjectNMI", Access::Write, injectNmi},
    {proto::DomainSetMetadata, "virDomainSetMetadata", Access::Write, setMetadata},
    {proto::DomainGetMetadata, "virDomainGetMetadata", Access::Read, getMetadata},
    {proto::DomainRename, "virDomainRename", Access::Write, renameDomain},
};

} // namespace

// After the client's check for the Domain `method` (the shared table), calls it with the
// arguments `fill` writes and answers void or the error.
void forwardToDomain(Services& services, const CallPtr& call, const RemoteDomain& dom,
                     const actions::MethodAction& method, ServiceClient::Fill fill) {
    withDomain(services, call, dom, [&services, call, method, fill](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(
            services, call, method, d, [&services, call, method, path, fill] {
                services.registry.domainCall(path, std::string(method.method), fill,
                                             [call](Result<void> r) { replyVoidOrFail(call, r); });
            });
    });
}

std::span<const Procedure> domainTuningProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
