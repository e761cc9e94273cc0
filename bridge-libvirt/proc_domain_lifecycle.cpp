// SPDX-License-Identifier: LGPL-2.1-or-later
// Domain procedures that change something, forwarded to the registry after the client's
// own polkit check: define, create, start, shutdown, destroy, undefine,
// reboot/reset/suspend/resume, managed save (autostart: proc_object_family.hpp).
#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_schema.hpp"

#include <chrono>
#include <utility>

namespace virtswarm::bridge {
namespace {

// A procedure that names a domain and maps to one Domain method taking only options.
struct Action {
    int32_t procedure;
    bool hasFlags;      // a trailing `unsigned int flags` argument
    const char* method; // org.virtswarm.Hypervisor1.Domain
    actions::MethodAction polkit;
    std::chrono::milliseconds timeout;
    bool returnsDomain; // DOMAIN_CREATE_WITH_FLAGS answers with the refreshed domain
};

constexpr auto kCall = RegistryClient::kCallTimeout;
constexpr auto kStart = RegistryClient::kStartTimeout;

// The polkit action is the one the D-Bus method checks (the shared table), so one polkit
// rule governs a domain whichever way it is reached.
consteval Action action(int32_t procedure, bool hasFlags, const char* method,
                        std::chrono::milliseconds timeout, bool returnsDomain = false) {
    auto polkit = actions::forMethod(names::kDomainInterface, method);
    return Action{procedure, hasFlags, method, polkit, timeout, returnsDomain};
}

constexpr Action kActions[] = {
    action(proto::DomainCreate, false, "Start", kStart),
    action(proto::DomainCreateWithFlags, true, "Start", kStart, true),
    action(proto::DomainShutdown, false, "Shutdown", kCall),
    action(proto::DomainShutdownFlags, true, "Shutdown", kCall),
    action(proto::DomainDestroy, false, "Destroy", kCall),
    action(proto::DomainDestroyFlags, true, "Destroy", kCall),
    action(proto::DomainUndefine, false, "Undefine", kCall),
    action(proto::DomainUndefineFlags, true, "Undefine", kCall),
    action(proto::DomainReboot, true, "Reboot", kCall),
    action(proto::DomainReset, true, "Reset", kCall),
    action(proto::DomainSuspend, false, "Suspend", kCall),
    action(proto::DomainResume, false, "Resume", kCall),
    // virsh managedsave; the next DOMAIN_CREATE restores the image, as in libvirt.
    action(proto::DomainManagedSave, true, "ManagedSave", kStart),
    action(proto::DomainManagedSaveRemove, true, "ManagedSaveRemove", kCall),
};

constexpr auto kDefineAction = actions::forMethod(names::kHypervisorManagerInterface, "DefineXML");
constexpr auto kStartAction = actions::forMethod(names::kDomainInterface, "Start");

const Action* actionFor(int32_t procedure) {
    for (const auto& a : kActions) {
        if (a.procedure == procedure) {
            return &a;
        }
    }
    return nullptr;
}

// libvirt's flags that pick how a shutdown or reboot is asked of the guest
// (virDomainShutdownFlagValues, virDomainRebootFlagValues: the same bits), and
// VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, _NVRAM, _KEEP_NVRAM and _KEEP_TPM.
constexpr uint32_t kPowerAcpiButton = 1;
constexpr uint32_t kPowerGuestAgent = 2;
constexpr uint32_t kUndefineSnapshotsMetadata = 2;
constexpr uint32_t kUndefineNvram = 4;
constexpr uint32_t kUndefineKeepNvram = 8;
constexpr uint32_t kUndefineKeepTpm = 64;
constexpr uint32_t kStartPaused = 1;    // VIR_DOMAIN_START_PAUSED
constexpr uint32_t kStartForceBoot = 8; // VIR_DOMAIN_START_FORCE_BOOT
constexpr uint32_t kDefineValidate = 1; // VIR_DOMAIN_DEFINE_VALIDATE
constexpr uint32_t kStartValidate = 16; // VIR_DOMAIN_START_VALIDATE
// virDomainSaveRestoreFlags of virDomainManagedSave.
constexpr uint32_t kSaveBypassCache = 1, kSaveRunning = 2, kSavePaused = 4;

// The D-Bus options a call's flags stand for; flags the swarm does not act on change
// nothing, as before, except power methods it cannot use (initctl, signal, paravirt).
Result<Options> optionsForFlags(int32_t procedure, uint32_t flags) {
    Options options;
    bool power = procedure == proto::DomainShutdownFlags || procedure == proto::DomainReboot;
    if (power) {
        if ((flags & ~(kPowerAcpiButton | kPowerGuestAgent)) != 0) {
            return Error(Code::NotSupported, "shutdown/reboot mode flags " + std::to_string(flags) +
                                                 " are not supported (acpi, agent)");
        }
        // Both bits: libvirt tries the agent first; without a connected one, ACPI. The
        // swarm does one of them, the one asked for alone.
        if (flags == kPowerGuestAgent) {
            options["mode"] = sdbus::Variant(std::string("agent"));
        }
    }
    if (procedure == proto::DomainUndefineFlags) {
        for (auto [bit, option] :
             {std::pair{kUndefineKeepTpm, "keep-tpm"}, std::pair{kUndefineNvram, "nvram"},
              std::pair{kUndefineKeepNvram, "keep-nvram"},
              std::pair{kUndefineSnapshotsMetadata, "snapshots-metadata"}}) {
            if ((flags & bit) != 0) {
                options[option] = sdbus::Variant(true);
            }
        }
    }
    if (procedure == proto::DomainCreateWithFlags && (flags & kStartForceBoot) != 0) {
        options["force-boot"] = sdbus::Variant(true);
    }
    if (procedure == proto::DomainCreateWithFlags && (flags & kStartPaused) != 0) {
        options["paused"] = sdbus::Variant(true);
    }
    if (procedure == proto::DomainManagedSave) {
        for (auto [bit, option] :
             {std::pair{kSaveBypassCache, "bypass-cache"}, std::pair{kSaveRunning, "running"},
              std::pair{kSavePaused, "paused"}}) {
            if ((flags & bit) != 0) {
                options[option] = sdbus::Variant(true);
            }
        }
    }
    return options;
}

// The domain as it is now (the id changes when it starts), or as the client named it.
RemoteDomain currentDomain(Services& services, const UuidBytes& uuid,
                           const RemoteDomain& fallback) {
    const CachedDomain* d = services.registry.cache().byUuid(uuid);
    return d != nullptr ? remoteDomain(*d) : fallback;
}

void domainAction(Services& services, const CallPtr& call, xdr::Reader& args) {
    const Action* action = actionFor(call->procedure());
    RemoteDomain dom = readDomain(args);
    uint32_t flags = 0;
    if (action != nullptr && action->hasFlags) {
        flags = args.u32();
    }
    if (!argsDone(call, args)) {
        return;
    }
    if (action == nullptr) {
        call->fail(unsupportedProcedure(call->procedure()));
        return;
    }
    auto options = optionsForFlags(call->procedure(), flags);
    if (!options) {
        call->fail(options.error());
        return;
    }
    withDomain(services, call, dom,
               [&services, call, action, options = options.value()](const CachedDomain& d) {
                   std::string path = d.path;
                   RemoteDomain named = remoteDomain(d);
                   authorizeObject<DomainKind>(
                       services, call, action->polkit, d,
                       [&services, call, action, path, named, options] {
                           services.registry.domainAction(
                               path, action->method, action->timeout,
                               [&services, call, action, named](Result<void> r) {
                                   if (!r) {
                                       call->fail(r.error());
                                   } else if (action->returnsDomain) {
                                       xdr::Writer w;
                                       writeDomain(w, currentDomain(services, named.uuid, named));
                                       call->reply(w);
                                   } else {
                                       call->replyVoid();
                                   }
                               },
                               options);
                       });
               });
}

// DEFINE_XML, DEFINE_XML_FLAGS and CREATE_XML. The XML is parsed here first: polkit needs
// the name and UUID as details before anything is forwarded. The normalised XML is what
// goes to the registry, so a UUID generated here is the one checked and the one defined.
void defineOrCreate(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    bool create = call->procedure() == proto::DomainCreateXml;
    bool validate = false;
    if (call->procedure() != proto::DomainDefineXml) {
        // Validation is the one flag acted on; others (autodestroy, ...) are ignored.
        validate = (args.u32() & (create ? kStartValidate : kDefineValidate)) != 0;
    }
    if (!argsDone(call, args)) {
        return;
    }
    // The client's own text is what libvirt validates, before anything reads its values
    // (a misspelt <memory> is a schema error, not a missing memory size).
    if (validate) {
        if (auto r = validateDomainSchema(xml); !r) {
            call->fail(r.error());
            return;
        }
    }
    auto parsed = parseDomainXml(xml);
    if (!parsed) {
        call->fail(parsed.error());
        return;
    }
    auto domain = std::make_shared<DomainXml>(std::move(parsed).value());
    RemoteDomain named{domain->def.name, domain->def.uuid, -1};
    auto forward = [&services, call, domain, named, create, validate] {
        auto client = call->client();
        if (!client) {
            return;
        }
        auto done = [&services, call, named](Result<std::string> path) {
            if (!path) {
                call->fail(path.error());
                return;
            }
            xdr::Writer w;
            writeDomain(w, currentDomain(services, named.uuid, named));
            call->reply(w);
        };
        // The registry sees the bridge (root) as its caller: it must be told whom the
        // definition belongs to, or it would reach what root can.
        uid_t definer = client->definerUid();
        if (create) {
            services.registry.createXml(domain->xml, definer, validate, done);
        } else {
            services.registry.defineXml(domain->xml, definer, validate, done);
        }
    };
    // Creating is defining and starting: both rights, as in Manager.CreateXML.
    authorize(services, call, std::string(kDefineAction.actionId), domain->def.name,
              domain->def.uuid, [&services, call, domain, create, forward] {
                  if (!create) {
                      forward();
                      return;
                  }
                  authorize(services, call, std::string(kStartAction.actionId), domain->def.name,
                            domain->def.uuid, forward);
              });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainDefineXml, "virDomainDefineXML", Access::Write, defineOrCreate},
    {proto::DomainDefineXmlFlags, "virDomainDefineXMLFlags", Access::Write, defineOrCreate},
    {proto::DomainCreateXml, "virDomainCreateXML", Access::Write, defineOrCreate},
    {proto::DomainCreate, "virDomainCreate", Access::Write, domainAction},
    {proto::DomainCreateWithFlags, "virDomainCreateWithFlags", Access::Write, domainAction},
    {proto::DomainShutdown, "virDomainShutdown", Access::Write, domainAction},
    {proto::DomainShutdownFlags, "virDomainShutdownFlags", Access::Write, domainAction},
    {proto::DomainDestroy, "virDomainDestroy", Access::Write, domainAction},
    {proto::DomainDestroyFlags, "virDomainDestroyFlags", Access::Write, domainAction},
    {proto::DomainUndefine, "virDomainUndefine", Access::Write, domainAction},
    {proto::DomainUndefineFlags, "virDomainUndefineFlags", Access::Write, domainAction},
    {proto::DomainReboot, "virDomainReboot", Access::Write, domainAction},
    {proto::DomainReset, "virDomainReset", Access::Write, domainAction},
    {proto::DomainSuspend, "virDomainSuspend", Access::Write, domainAction},
    {proto::DomainResume, "virDomainResume", Access::Write, domainAction},
    {proto::DomainManagedSave, "virDomainManagedSave", Access::Write, domainAction},
    {proto::DomainManagedSaveRemove, "virDomainManagedSaveRemove", Access::Write, domainAction},
};

} // namespace

std::span<const Procedure> domainLifecycleProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
