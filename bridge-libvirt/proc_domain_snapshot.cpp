// SPDX-License-Identifier: LGPL-2.1-or-later
// Domain snapshots (virsh snapshot-create[-as], snapshot-list, snapshot-info,
// snapshot-dumpxml, snapshot-current, snapshot-parent, snapshot-revert, snapshot-delete),
// over the registry's Domain.CreateSnapshot/ListSnapshots and its Snapshot objects. A
// snapshot is named on the wire by (name, domain); the bridge finds it in the domain's
// listing, so a name that is not there is NO_DOMAIN_SNAPSHOT before anything else.
#include "procedures.hpp"
#include "protocol.hpp"
#include "rpc_error.hpp"
#include "snapshot_list.hpp"
#include "virtswarm/dbus_edge.hpp"

namespace virtswarm::bridge {
namespace {

// virDomainSnapshotCreateFlags, each the registry option of that name.
constexpr uint32_t kCreateRedefine = 1;
constexpr uint32_t kCreateCurrent = 2;
constexpr uint32_t kCreateNoMetadata = 4;
constexpr uint32_t kCreateHalt = 8;
constexpr uint32_t kCreateDiskOnly = 16;
constexpr uint32_t kCreateReuseExt = 32;
constexpr uint32_t kCreateQuiesce = 64;
constexpr uint32_t kCreateAtomic = 128;
constexpr uint32_t kCreateLive = 256;
constexpr uint32_t kCreateValidate = 512;
// virDomainSnapshotRevertFlags (RESET_NVRAM: no UEFI domain can have internal snapshots).
constexpr uint32_t kRevertRunning = 1;
constexpr uint32_t kRevertPaused = 2;
constexpr uint32_t kRevertForce = 4;
// virDomainSnapshotDeleteFlags.
constexpr uint32_t kDeleteChildren = 1;
constexpr uint32_t kDeleteMetadataOnly = 2;
constexpr uint32_t kDeleteChildrenOnly = 4;
// VIR_DOMAIN_SNAPSHOT_XML_SECURE.
constexpr uint32_t kXmlSecure = 1;

constexpr auto kCreate = actions::forMethod(names::kDomainInterface, "CreateSnapshot");
constexpr auto kList = actions::forMethod(names::kDomainInterface, "ListSnapshots");
constexpr auto kGetXml = actions::forMethod(names::kSnapshotInterface, "GetXML");
constexpr auto kRevert = actions::forMethod(names::kSnapshotInterface, "Revert");
constexpr auto kDelete = actions::forMethod(names::kSnapshotInterface, "Delete");

// remote_nonnull_domain_snapshot: its name, then its domain.
struct RemoteSnapshot {
    std::string name;
    RemoteDomain dom;
};

RemoteSnapshot readSnapshot(xdr::Reader& args) {
    RemoteSnapshot snap;
    snap.name = args.string(proto::kStringMax);
    snap.dom = readDomain(args);
    return snap;
}

void writeSnapshot(xdr::Writer& w, const std::string& name, const CachedDomain& d) {
    w.string(name);
    writeDomain(w, RemoteDomain{d.name, d.uuid, d.id});
}

Error noSuchSnapshot(const std::string& name) {
    return Error(Code::NoSuchSnapshot, "no domain snapshot with matching name '" + name + "'");
}

// libvirt flags and the registry's boolean options they stand for.
using FlagNames = std::initializer_list<std::pair<uint32_t, const char*>>;

// The options for the flags set in `flags`.
Options flagOptions(uint32_t flags, FlagNames names) {
    Options options;
    for (const auto& [bit, name] : names) {
        if ((flags & bit) != 0) {
            options.emplace(name, sdbus::Variant(true));
        }
    }
    return options;
}

using Listed = std::function<void(const CachedDomain&, const std::vector<SnapshotInfo>&)>;

// The domain the client named, polkit's answer for `action` on it, then its snapshots.
void withSnapshots(Services& services, const CallPtr& call, const RemoteDomain& dom,
                   std::string_view action, Listed then) {
    withDomain(services, call, dom,
               [&services, call, action, then = std::move(then)](const CachedDomain& d) {
                   authorize(services, call, std::string(action), d.name, d.uuid,
                             [&services, call, d, then] {
                                 services.registry.listSnapshots(
                                     d.path, [call, d, then](Result<std::vector<SnapshotInfo>> r) {
                                         if (!r) {
                                             call->fail(r.error());
                                             return;
                                         }
                                         then(d, r.value());
                                     });
                             });
               });
}

using Found =
    std::function<void(const CachedDomain&, const SnapshotInfo&, const std::vector<SnapshotInfo>&)>;

// The same for one snapshot the client named: NO_DOMAIN_SNAPSHOT if the domain has none
// of that name.
void withSnapshot(Services& services, const CallPtr& call, const RemoteSnapshot& snap,
                  std::string_view action, Found then) {
    withSnapshots(services, call, snap.dom, action,
                  [call, name = snap.name, then = std::move(then)](
                      const CachedDomain& d, const std::vector<SnapshotInfo>& all) {
                      for (const auto& s : all) {
                          if (s.name == name) {
                              then(d, s, all);
                              return;
                          }
                      }
                      call->fail(noSuchSnapshot(name));
                  });
}

void replySnapshot(const CallPtr& call, const std::string& name, const CachedDomain& d) {
    xdr::Writer w;
    writeSnapshot(w, name, d);
    call->reply(w);
}

void replyInt(const CallPtr& call, int32_t value) {
    xdr::Writer w;
    w.i32(value);
    call->reply(w);
}

// At most `maxNames` names (the older list procedures); more is libvirt's refusal.
bool namesFit(const CallPtr& call, int32_t maxNames) {
    if (maxNames < 0 || static_cast<uint32_t>(maxNames) > proto::kDomainSnapshotListMax) {
        call->fail(Error(Code::InvalidArgs, "maxnames out of range"));
        return false;
    }
    return true;
}

void replyNames(const CallPtr& call, const std::vector<SnapshotInfo>& selected, int32_t maxNames) {
    xdr::Writer w;
    size_t count = std::min(selected.size(), static_cast<size_t>(maxNames));
    w.u32(static_cast<uint32_t>(count));
    for (size_t i = 0; i < count; ++i) {
        w.string(selected[i].name);
    }
    call->reply(w);
}

// remote_domain_list_all_snapshots_ret / _children_ret: the snapshots (when asked for)
// and their count.
void replyAll(const CallPtr& call, const CachedDomain& d, const std::vector<SnapshotInfo>& selected,
              bool needResults) {
    xdr::Writer w;
    if (needResults) {
        w.u32(static_cast<uint32_t>(selected.size()));
        for (const auto& s : selected) {
            writeSnapshot(w, s.name, d);
        }
    } else {
        w.u32(0);
    }
    w.i32(static_cast<int32_t>(selected.size()));
    call->reply(w);
}

// DOMAIN_SNAPSHOT_CREATE_XML (dom, xml, flags) -> snap
void createXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) ||
        !flagsKnown(call, flags,
                    kCreateRedefine | kCreateCurrent | kCreateNoMetadata | kCreateHalt |
                        kCreateDiskOnly | kCreateReuseExt | kCreateQuiesce | kCreateAtomic |
                        kCreateLive | kCreateValidate)) {
        return;
    }
    // libvirt's QEMU driver checks this pair first, in these words.
    if ((flags & kCreateQuiesce) != 0 && (flags & kCreateDiskOnly) == 0) {
        call->fail(Error(Code::InvalidArgs,
                         "Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag "
                         "'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'"));
        return;
    }
    Options options = flagOptions(flags, {{kCreateRedefine, "redefine"},
                                          {kCreateCurrent, "current"},
                                          {kCreateNoMetadata, "no-metadata"},
                                          {kCreateHalt, "halt"},
                                          {kCreateDiskOnly, "disk-only"},
                                          {kCreateReuseExt, "reuse-external"},
                                          {kCreateQuiesce, "quiesce"},
                                          {kCreateAtomic, "atomic"},
                                          {kCreateLive, "live"},
                                          {kCreateValidate, "validate"}});
    withDomain(services, call, dom, [&services, call, xml, options](const CachedDomain& d) {
        authorizeObject<DomainKind>(services, call, kCreate, d, [&services, call, xml, options, d] {
            services.registry.createSnapshot(
                d.path, xml, options, [call, d](Result<std::string> created) {
                    if (!created) {
                        call->fail(created.error());
                        return;
                    }
                    // The name from the new object's path: the registry may have chosen it, and a
                    // snapshot taken without metadata is not listed.
                    const std::string& path = created.value();
                    auto name = unescapePathElement(path.substr(path.rfind('/') + 1));
                    if (!name) {
                        call->fail(Error(Code::Internal, "unexpected snapshot path " + path));
                        return;
                    }
                    replySnapshot(call, *name, d);
                });
        });
    });
}

// DOMAIN_SNAPSHOT_GET_XML_DESC (snap, flags) -> xml
void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteSnapshot snap = readSnapshot(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kXmlSecure)) {
        return;
    }
    bool secure = (flags & kXmlSecure) != 0;
    withSnapshot(services, call, snap, kGetXml.actionId,
                 [&services, call, secure](const CachedDomain& d, const SnapshotInfo& s,
                                           const std::vector<SnapshotInfo>&) {
                     auto fetch = [&services, call, path = s.path, secure] {
                         Options options;
                         if (secure) {
                             options.emplace("secure", sdbus::Variant(true));
                         }
                         services.registry.snapshotXml(
                             path, options,
                             [call](Result<std::string> xml) { replyStringOrFail(call, xml); });
                     };
                     if (!secure) {
                         fetch();
                         return;
                     }
                     // As Domain.GetXML: secrets need read-secure on top of read.
                     authorize(services, call, std::string(actions::kDomainReadSecureAction),
                               d.name, d.uuid, fetch);
                 });
}

// What a listing procedure answers for the snapshots it selected: their count (the NUM
// procedures), at most `count` names (LIST_NAMES), or the snapshots with their count
// (LIST_ALL, when `count`, its need_results, is set).
void answerListing(const CallPtr& call, const CachedDomain& d,
                   const std::vector<SnapshotInfo>& selected, int32_t count) {
    switch (call->procedure()) {
    case proto::DomainSnapshotNum:
    case proto::DomainSnapshotNumChildren:
        replyInt(call, static_cast<int32_t>(selected.size()));
        break;
    case proto::DomainSnapshotListNames:
    case proto::DomainSnapshotListChildrenNames:
        replyNames(call, selected, count);
        break;
    default:
        replyAll(call, d, selected, count != 0);
    }
}

// The rest of a listing's arguments: (maxnames | need_results) unless a NUM procedure,
// then flags; nullopt once the call is answered with the refusal.
struct ListingArgs {
    int32_t count = 0;
    uint32_t flags = 0;
};
std::optional<ListingArgs> readListing(const CallPtr& call, xdr::Reader& args) {
    int32_t procedure = call->procedure();
    bool counted =
        procedure == proto::DomainSnapshotNum || procedure == proto::DomainSnapshotNumChildren;
    bool named = procedure == proto::DomainSnapshotListNames ||
                 procedure == proto::DomainSnapshotListChildrenNames;
    ListingArgs read;
    read.count = counted ? 0 : args.i32();
    read.flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, read.flags, snapshot_list::kKnown) ||
        (named && !namesFit(call, read.count))) {
        return std::nullopt;
    }
    return read;
}

// DOMAIN_SNAPSHOT_NUM (dom, flags) -> num, DOMAIN_SNAPSHOT_LIST_NAMES (dom, maxnames,
// flags) -> names, DOMAIN_LIST_ALL_SNAPSHOTS (dom, need_results, flags) -> (snaps, ret).
void listOfDomain(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    auto read = readListing(call, args);
    if (!read) {
        return;
    }
    withSnapshots(
        services, call, dom, kList.actionId,
        [call, read = *read](const CachedDomain& d, const std::vector<SnapshotInfo>& all) {
            answerListing(call, d, selectSnapshots(all, std::nullopt, read.flags), read.count);
        });
}

// DOMAIN_SNAPSHOT_NUM_CHILDREN (snap, flags) -> num, DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES
// (snap, maxnames, flags) -> names, DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN (snap, need_results,
// flags) -> (snaps, ret).
void listOfSnapshot(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteSnapshot snap = readSnapshot(args);
    auto read = readListing(call, args);
    if (!read) {
        return;
    }
    withSnapshot(services, call, snap, kList.actionId,
                 [call, read = *read](const CachedDomain& d, const SnapshotInfo& s,
                                      const std::vector<SnapshotInfo>& all) {
                     answerListing(call, d, selectSnapshots(all, s.name, read.flags), read.count);
                 });
}

// DOMAIN_SNAPSHOT_LOOKUP_BY_NAME (dom, name, flags) -> snap
void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteSnapshot snap;
    snap.dom = readDomain(args);
    snap.name = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    withSnapshot(services, call, snap, kList.actionId,
                 [call](const CachedDomain& d, const SnapshotInfo& s,
                        const std::vector<SnapshotInfo>&) { replySnapshot(call, s.name, d); });
}

// DOMAIN_HAS_CURRENT_SNAPSHOT (dom, flags) -> result, DOMAIN_SNAPSHOT_CURRENT (dom, flags)
// -> snap
void current(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteDomain dom = readDomain(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    withSnapshots(services, call, dom, kList.actionId,
                  [call](const CachedDomain& d, const std::vector<SnapshotInfo>& all) {
                      const SnapshotInfo* found = nullptr;
                      for (const auto& s : all) {
                          found = s.current ? &s : found;
                      }
                      if (call->procedure() == proto::DomainHasCurrentSnapshot) {
                          replyInt(call, found != nullptr ? 1 : 0);
                      } else if (found == nullptr) {
                          call->fail(Error(Code::NoSuchSnapshot,
                                           "the domain does not have a current snapshot"));
                      } else {
                          replySnapshot(call, found->name, d);
                      }
                  });
}

// DOMAIN_SNAPSHOT_GET_PARENT (snap, flags) -> snap, DOMAIN_SNAPSHOT_IS_CURRENT (snap,
// flags) -> current, DOMAIN_SNAPSHOT_HAS_METADATA (snap, flags) -> metadata
void aboutSnapshot(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteSnapshot snap = readSnapshot(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    withSnapshot(
        services, call, snap, kList.actionId,
        [call](const CachedDomain& d, const SnapshotInfo& s, const std::vector<SnapshotInfo>&) {
            switch (call->procedure()) {
            case proto::DomainSnapshotIsCurrent:
                replyInt(call, s.current ? 1 : 0);
                break;
            case proto::DomainSnapshotHasMetadata:
                replyInt(call, 1); // every listed snapshot is the registry's metadata
                break;
            default:
                if (s.parent.empty()) {
                    call->fail(Error(Code::NoSuchSnapshot,
                                     "snapshot '" + s.name + "' does not have a parent"));
                } else {
                    replySnapshot(call, s.parent, d);
                }
            }
        });
}

// A snapshot method of the registry that takes only options, for (snap, flags): the flags
// checked and named as the method's options, polkit's `action` asked, then `method` called.
void snapshotMethod(Services& services, const CallPtr& call, xdr::Reader& args, const char* method,
                    std::string_view action, FlagNames flagNames) {
    RemoteSnapshot snap = readSnapshot(args);
    uint32_t flags = args.u32();
    uint32_t known = 0;
    for (const auto& [bit, name] : flagNames) {
        known |= bit;
    }
    if (!argsDone(call, args) || !flagsKnown(call, flags, known)) {
        return;
    }
    Options options = flagOptions(flags, flagNames);
    withSnapshot(services, call, snap, action,
                 [&services, call, method, options](const CachedDomain&, const SnapshotInfo& s,
                                                    const std::vector<SnapshotInfo>&) {
                     services.registry.snapshotAction(
                         s.path, method, options,
                         [call](Result<void> r) { replyVoidOrFail(call, r); });
                 });
}

// DOMAIN_REVERT_TO_SNAPSHOT (snap, flags)
void revert(Services& services, const CallPtr& call, xdr::Reader& args) {
    // Both RUNNING and PAUSED: the registry refuses them as libvirt does (InvalidArgs).
    snapshotMethod(
        services, call, args, "Revert", kRevert.actionId,
        {{kRevertRunning, "running"}, {kRevertPaused, "paused"}, {kRevertForce, "force"}});
}

// DOMAIN_SNAPSHOT_DELETE (snap, flags)
void remove(Services& services, const CallPtr& call, xdr::Reader& args) {
    snapshotMethod(services, call, args, "Delete", kDelete.actionId,
                   {{kDeleteChildren, "children"},
                    {kDeleteMetadataOnly, "metadata-only"},
                    {kDeleteChildrenOnly, "children-only"}});
}

constexpr Procedure kProcedures[] = {
    {proto::DomainSnapshotCreateXml, "virDomainSnapshotCreateXML", Access::Write, createXml},
    {proto::DomainSnapshotGetXmlDesc, "virDomainSnapshotGetXMLDesc", Access::Read, getXmlDesc},
    {proto::DomainSnapshotNum, "virDomainSnapshotNum", Access::Read, listOfDomain},
    {proto::DomainSnapshotListNames, "virDomainSnapshotListNames", Access::Read, listOfDomain},
    {proto::DomainListAllSnapshots, "virDomainListAllSnapshots", Access::Read, listOfDomain},
    {proto::DomainSnapshotNumChildren, "virDomainSnapshotNumChildren", Access::Read,
     listOfSnapshot},
    {proto::DomainSnapshotListChildrenNames, "virDomainSnapshotListChildrenNames", Access::Read,
     listOfSnapshot},
    {proto::DomainSnapshotListAllChildren, "virDomainSnapshotListAllChildren", Access::Read,
     listOfSnapshot},
    {proto::DomainSnapshotLookupByName, "virDomainSnapshotLookupByName", Access::Read,
     lookupByName},
    {proto::DomainHasCurrentSnapshot, "virDomainHasCurrentSnapshot", Access::Read, current},
    {proto::DomainSnapshotCurrent, "virDomainSnapshotCurrent", Access::Read, current},
    {proto::DomainSnapshotGetParent, "virDomainSnapshotGetParent", Access::Read, aboutSnapshot},
    {proto::DomainSnapshotIsCurrent, "virDomainSnapshotIsCurrent", Access::Read, aboutSnapshot},
    {proto::DomainSnapshotHasMetadata, "virDomainSnapshotHasMetadata", Access::Read, aboutSnapshot},
    {proto::DomainRevertToSnapshot, "virDomainRevertToSnapshot", Access::Write, revert},
    {proto::DomainSnapshotDelete, "virDomainSnapshotDelete", Access::Write, remove},
};

} // namespace

std::span<const Procedure> domainSnapshotProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
