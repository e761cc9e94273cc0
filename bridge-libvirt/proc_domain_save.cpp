// SPDX-License-Identifier: LGPL-2.1-or-later
// virsh save, restore, save-image-dumpxml and save-image-define, and the managed save
// image's definition (managedsave-dumpxml, managedsave-define, managedsave-edit). The bridge cannot
// open its clients' files (it has no capabilities and sees no home directories): the registry opens
// them, with the client's rights (option definer-uid). An image's domain is known only once the
// registry has read it, so the image procedures read the image's XML first, ask polkit about the
// client for that domain, and then name its UUID to the registry, which refuses the file if it no
// longer holds that domain.
#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/domain_def.hpp"

namespace virtswarm::bridge {
namespace {

// virDomainSaveRestoreFlags, and VIR_DOMAIN_SAVE_IMAGE_XML_SECURE.
constexpr uint32_t kBypassCache = 1;
constexpr uint32_t kRunning = 2;
constexpr uint32_t kPaused = 4;
constexpr uint32_t kImageXmlSecure = 1;

constexpr auto kSave = actions::forMethod(names::kDomainInterface, "Save");
constexpr auto kRestore = actions::forMethod(names::kHypervisorManagerInterface, "Restore");
constexpr auto kImageGetXml =
    actions::forMethod(names::kHypervisorManagerInterface, "SaveImageGetXML");
constexpr auto kImageDefineXml =
    actions::forMethod(names::kHypervisorManagerInterface, "SaveImageDefineXML");
constexpr auto kManagedGetXml = actions::forMethod(names::kDomainInterface, "ManagedSaveGetXML");
constexpr auto kManagedDefineXml =
    actions::forMethod(names::kDomainInterface, "ManagedSaveDefineXML");

// The registry's options for a call's flags and replacement XML, acting for the client.
Options saveOptions(const CallPtr& call, uint32_t flags, const std::optional<std::string>& xml) {
    Options options;
    auto client = call->client();
    options.emplace(kDefinerUidOption,
                    sdbus::Variant(static_cast<uint32_t>(client ? client->definerUid() : 65534)));
    for (auto [bit, name] : {std::pair{kBypassCache, "bypass-cache"},
                             std::pair{kRunning, "running"}, std::pair{kPaused, "paused"}}) {
        if ((flags & bit) != 0) {
            options.emplace(name, sdbus::Variant(true));
        }
    }
    if (xml) {
        options.emplace("xml", sdbus::Variant(*xml));
    }
    return options;
}

// Both RUNNING and PAUSED: libvirt's own refusal, before anything is done.
bool flagsConsistent(const CallPtr& call, uint32_t flags) {
    if ((flags & kRunning) != 0 && (flags & kPaused) != 0) {
        call->fail(Error(Code::InvalidArgs, "flags 'running' and 'paused' are mutually exclusive"));
        return false;
    }
    return true;
}

// The rest of a save or restore call: (dxml, flags) for the _FLAGS procedures, then the
// end of the arguments, checked; the registry's options for them, or nullopt when the
// call has been answered with the refusal.
std::optional<Options> readSaveArguments(const CallPtr& call, xdr::Reader& args,
                                         int32_t withFlags) {
    std::optional<std::string> xml;
    uint32_t flags = 0;
    if (call->procedure() == withFlags) {
        xml = args.optionalString(proto::kStringMax);
        flags = args.u32();
    }
    if (!argsDone(call, args) || !flagsKnown(call, flags, kBypassCache | kRunning | kPaused) ||
        !flagsConsistent(call, flags)) {
        return std::nullopt;
    }
    return saveOptions(call, flags, xml);
}

// DOMAIN_SAVE (dom, to) and DOMAIN_SAVE_FLAGS (dom, to, dxml, flags).
void save(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    std::string to = args.string(proto::kStringMax);
    auto read = readSaveArguments(call, args, proto::DomainSaveFlags);
    if (!read) {
        return;
    }
    Options options = *read;
    withDomain(services, call, dom, [&services, call, to, options](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(services, call, kSave, d, [&services, call, path, to, options] {
            services.registry.saveDomain(path, to, options,
                                         [call](Result<void> r) { replyVoidOrFail(call, r); });
        });
    });
}

// The image's domain, as the registry read it with the client's rights: then `then` once
// polkit allowed `action` to the client on that domain, with the domain's UUID.
void authorizeImage(Services& services, const CallPtr& call, const std::string& file,
                    const actions::MethodAction& action, bool secure,
                    std::function<void(const std::string& xml, const DomainDef& def)> then) {
    Options options = saveOptions(call, 0, std::nullopt);
    if (secure) {
        options.emplace("secure", sdbus::Variant(true));
    }
    services.registry.saveImageGetXml(
        file, options, [&services, call, action, then = std::move(then)](Result<std::string> xml) {
            if (!xml) {
                call->fail(xml.error());
                return;
            }
            auto parsed = parseDomainXml(xml.value());
            if (!parsed) {
                call->fail(parsed.error());
                return;
            }
            auto domain = std::make_shared<DomainXml>(std::move(parsed).value());
            authorizeObject<DomainKind>(
                services, call, action.actionId, domain->def.name, domain->def.uuid,
                [&services, call, action, domain, xml, then] {
                    if (action.alsoActionId.empty()) {
                        then(xml.value(), domain->def);
                        return;
                    }
                    authorizeObject<DomainKind>(
                        services, call, action.alsoActionId, domain->def.name, domain->def.uuid,
                        [domain, xml, then] { then(xml.value(), domain->def); });
                });
        });
}

// DOMAIN_RESTORE (from) and DOMAIN_RESTORE_FLAGS (from, dxml, flags).
void restore(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string from = args.string(proto::kStringMax);
    auto read = readSaveArguments(call, args, proto::DomainRestoreFlags);
    if (!read) {
        return;
    }
    Options options = *read;
    authorizeImage(services, call, from, kRestore, false,
                   [&services, call, from, options](const std::string&, const DomainDef& def) {
                       Options checked = options;
                       checked.emplace("uuid", sdbus::Variant(formatUuid(def.uuid)));
                       services.registry.restore(from, checked, [call](Result<std::string> path) {
                           if (!path) {
                               call->fail(path.error());
                           } else {
                               call->replyVoid();
                           }
                       });
                   });
}

// DOMAIN_SAVE_IMAGE_GET_XML_DESC (file, flags) -> xml
void imageGetXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string file = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kImageXmlSecure)) {
        return;
    }
    bool secure = (flags & kImageXmlSecure) != 0;
    authorizeImage(services, call, file, kImageGetXml, secure,
                   [&services, call, secure](const std::string& xml, const DomainDef& def) {
                       if (!secure) {
                           replyStringOrFail(call, xml);
                           return;
                       }
                       // As Domain.GetXML: secrets need read-secure on top of read.
                       authorizeObject<DomainKind>(services, call, actions::kDomainReadSecureAction,
                                                   def.name, def.uuid,
                                                   [call, xml] { replyStringOrFail(call, xml); });
                   });
}

// DOMAIN_SAVE_IMAGE_DEFINE_XML (file, dxml, flags)
void imageDefineXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string file = args.string(proto::kStringMax);
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kRunning | kPaused) ||
        !flagsConsistent(call, flags)) {
        return;
    }
    Options options = saveOptions(call, flags, std::nullopt);
    authorizeImage(services, call, file, kImageDefineXml, false,
                   [&services, call, file, xml, options](const std::string&, const DomainDef& def) {
                       Options checked = options;
                       checked.emplace("uuid", sdbus::Variant(formatUuid(def.uuid)));
                       services.registry.saveImageDefineXml(
                           file, xml, checked,
                           [call](Result<void> r) { replyVoidOrFail(call, r); });
                   });
}

// DOMAIN_MANAGED_SAVE_GET_XML_DESC (dom, flags) -> xml. The registry keeps the image:
// nothing of the client's to open.
void managedGetXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kImageXmlSecure)) {
        return;
    }
    bool secure = (flags & kImageXmlSecure) != 0;
    withDomain(services, call, dom, [&services, call, secure](const CachedDomain& d) {
        std::string path = d.path;
        auto ask = [&services, call, path, secure] {
            Options options;
            if (secure) {
                options.emplace("secure", sdbus::Variant(true));
            }
            services.registry.call<std::string>(
                path, "ManagedSaveGetXML", ServiceClient::kCallTimeout,
                [options](sdbus::MethodCall& m) { m << options; },
                [call](Result<std::string> r) { replyStringOrFail(call, r); });
        };
        authorizeObject<DomainKind>(
            services, call, kManagedGetXml, d, [&services, call, d, ask, secure] {
                if (!secure) {
                    ask();
                    return;
                }
                // As Domain.GetXML: secrets need read-secure on top of read.
                authorizeObject<DomainKind>(services, call, actions::kDomainReadSecureAction,
                                            d.name, d.uuid, ask);
            });
    });
}

// DOMAIN_MANAGED_SAVE_DEFINE_XML (dom, dxml, flags)
void managedDefineXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    auto xml = args.optionalString(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kBypassCache | kRunning | kPaused) ||
        !flagsConsistent(call, flags)) {
        return;
    }
    if (!xml) {
        call->fail(
            Error(Code::InvalidArgs, "dxml in virDomainManagedSaveDefineXML must not be NULL"));
        return;
    }
    Options options;
    for (auto [bit, name] : {std::pair{kRunning, "running"}, std::pair{kPaused, "paused"}}) {
        if ((flags & bit) != 0) {
            options.emplace(name, sdbus::Variant(true));
        }
    }
    withDomain(services, call, dom, [&services, call, xml = *xml, options](const CachedDomain& d) {
        std::string path = d.path;
        authorizeObject<DomainKind>(
            services, call, kManagedDefineXml, d, [&services, call, d, path, xml, options] {
                authorizeObject<DomainKind>(
                    services, call, kManagedDefineXml.alsoActionId, d.name, d.uuid,
                    [&services, call, path, xml, options] {
                        services.registry.domainCall(
                            path, "ManagedSaveDefineXML",
                            [xml, options](sdbus::MethodCall& m) { m << xml << options; },
                            [call](Result<void> r) { replyVoidOrFail(call, r); });
                    });
            });
    });
}

constexpr Procedure kProcedures[] = {
    {proto::DomainSave, "virDomainSave", Access::Write, save},
    {proto::DomainSaveFlags, "virDomainSaveFlags", Access::Write, save},
    {proto::DomainRestore, "virDomainRestore", Access::Write, restore},
    {proto::DomainRestoreFlags, "virDomainRestoreFlags", Access::Write, restore},
    // Read-write only, unlike libvirt: the registry opens the file with the client's
    // credentials, which read-only TCP connections do not have.
    {proto::DomainSaveImageGetXmlDesc, "virDomainSaveImageGetXMLDesc", Access::Write, imageGetXml},
    {proto::DomainSaveImageDefineXml, "virDomainSaveImageDefineXML", Access::Write, imageDefineXml},
    {proto::DomainManagedSaveGetXmlDesc, "virDomainManagedSaveGetXMLDesc", Access::Read,
     managedGetXml},
    {proto::DomainManagedSaveDefineXml, "virDomainManagedSaveDefineXML", Access::Write,
     managedDefineXml},
};

} // namespace

std::span<const Procedure> domainSaveProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
