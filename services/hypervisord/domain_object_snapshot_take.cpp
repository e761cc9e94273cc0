// SPDX-License-Identifier: LGPL-2.1-or-later
// Taking a snapshot: internal (the shim's snapshot-save while the guest runs, qemu-img on
// the images while it is shut off) or external (overlays over the disks), and redefining
// a snapshot's metadata as a client gives it.
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "external_snapshot.hpp"
#include "offline_snapshot.hpp"
#include "registry.hpp"
#include "snapshot_object.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <ctime>

namespace virtswarm::hypervisor {
namespace {

constexpr auto kCreateSnapshot = domainAction("CreateSnapshot");

// Each disk's part in an internal snapshot: every image it covers is "internal", the others
// "no". A request may name disks, but not leave a covered one out.
Result<std::vector<SnapshotDisk>> diskParts(const DomainDef& def,
                                            const std::vector<const DiskDef*>& covered,
                                            const std::vector<SnapshotDisk>& asked) {
    auto isCovered = [&covered](const DiskDef& disk) {
        return std::find(covered.begin(), covered.end(), &disk) != covered.end();
    };
    for (const auto& part : asked) {
        auto disk = std::find_if(def.disks.begin(), def.disks.end(),
                                 [&part](const DiskDef& d) { return d.targetDev == part.name; });
        if (disk == def.disks.end()) {
            return Error(Code::InvalidXML, "no disk named '" + part.name + "' in the domain");
        }
        if (part.snapshot == "no" && isCovered(*disk)) {
            return Error(Code::ConfigUnsupported,
                         "internal snapshots cover every writable disk; disk '" + part.name +
                             "' cannot be left out");
        }
    }
    std::vector<SnapshotDisk> parts;
    for (const auto& disk : def.disks) {
        parts.push_back({disk.targetDev, isCovered(disk) ? "internal" : "no", ""});
    }
    return parts;
}

std::string stateName(DomainState state) {
    return state == DomainState::Shutoff ? "shutoff" : std::string(toString(state));
}

} // namespace

void DomainObject::CreateSnapshot(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                                  Options options) {
    auto redefine = boolOption(options, "redefine", false);
    if (redefine && redefine.value()) {
        redefineSnapshot(std::move(result), xml, options);
        return;
    }
    auto halt = boolOption(options, "halt", false);
    auto noMetadata = boolOption(options, "no-metadata", false);
    auto atomic = boolOption(options, "atomic", false);
    auto validate = boolOption(options, "validate", false);
    auto diskOnly = boolOption(options, "disk-only", false);
    auto reuse = boolOption(options, "reuse-external", false);
    auto quiesce = boolOption(options, "quiesce", false);
    auto live = boolOption(options, "live", false);
    // The request is small: parsed (and bounded) before polkit is asked.
    auto request = parseSnapshotRequest(xml);
    m_gate.handle(
        std::move(result),
        service::firstError(
            checkOptions(options, {"halt", "no-metadata", "atomic", "validate", "disk-only",
                                   "redefine", "current", "reuse-external", "quiesce", "live"}),
            halt, noMetadata, atomic, validate, diskOnly, reuse, redefine, quiesce, live,
            // libvirt: "use of 'current' flag requires 'redefine' flag".
            boolOption(options, "current", false).value_or(false)
                ? Result<void>(Error(Code::InvalidArgs, "option current requires redefine"))
                : success(),
            // libvirt freezes the guest only for the disks' switch to their overlays.
            quiesce.value_or(false) && !diskOnly.value_or(false)
                ? Result<void>(Error(Code::InvalidArgs, "option quiesce requires disk-only"))
                : success(),
            request ? success() : Result<void>(request.error()),
            // libvirt's live snapshot is of the memory into a file of its own, which this
            // registry does not take (external memory is refused in the request).
            live.value_or(false)
                ? Result<void>(Error(Code::OperationUnsupported,
                                     "live snapshot creation is supported only during full "
                                     "system snapshots"))
                : success()),
        kCreateSnapshot,
        [this, request = request ? request.value() : SnapshotRequest{},
         diskOnly = diskOnly && diskOnly.value(),
         how = SnapshotTaking{halt && halt.value(), !(noMetadata && noMetadata.value()),
                              reuse && reuse.value(), quiesce && quiesce.value()}](
            const SharedResult<sdbus::ObjectPath>& shared) {
            auto planned = planSnapshot(request, diskOnly);
            if (!planned) {
                fail(shared, planned.error());
                return;
            }
            // As libvirt: a shut-off guest has nothing to quiesce, a running one needs its
            // agent's channel.
            if (how.quiesce && active() && !def().tools.guestAgentChannel()) {
                fail(shared,
                     Error(Code::ArgumentUnsupported, "QEMU guest agent is not configured"));
                return;
            }
            if (auto r = beginSnapshotOperation(); !r) {
                fail(shared, r.error());
                return;
            }
            takeSnapshot(std::move(planned.value()), how, [shared](Result<std::string> path) {
                if (!path) {
                    fail(shared, path.error());
                    return;
                }
                shared->returnResults(sdbus::ObjectPath(path.value()));
            });
        });
}

void DomainObject::redefineSnapshot(sdbus::Result<sdbus::ObjectPath>&& result,
                                    const std::string& xml, const Options& options) {
    auto current = boolOption(options, "current", false);
    auto diskOnly = boolOption(options, "disk-only", false);
    auto validate = boolOption(options, "validate", false);
    // The stored form, a whole definition inside: bounded by its own parser, before
    // polkit is asked.
    auto snapshot = parseSnapshotDef(xml);
    Result<void> consistent = success();
    if (snapshot && diskOnly && diskOnly.value() && snapshot.value().state != "disk-snapshot") {
        consistent =
            Error(Code::InvalidArgs, "disk-only flag for snapshot " + snapshot.value().name +
                                         " requires disk-snapshot state");
    }
    m_gate.handle(
        std::move(result),
        service::firstError(
            checkOptions(options, {"redefine", "current", "disk-only", "validate", "atomic"}),
            current, diskOnly, validate, snapshot ? success() : Result<void>(snapshot.error()),
            consistent),
        kCreateSnapshot,
        [this, snapshot = snapshot ? snapshot.value() : SnapshotDef{},
         makeItCurrent =
             current && current.value()](const SharedResult<sdbus::ObjectPath>& shared) {
            if (auto r = checkRedefinition(snapshot); !r) {
                fail(shared, r.error());
                return;
            }
            if (auto r = beginSnapshotOperation(); !r) {
                fail(shared, r.error());
                return;
            }
            m_snapshotBusy = false; // the metadata alone changes, at once
            bool replaced = m_snapshots.find(snapshot.name) != nullptr;
            std::string name = snapshot.name;
            if (auto stored = m_snapshots.put(snapshot); !stored) {
                fail(shared, stored.error());
                return;
            }
            // Its constant properties change with it: the object is announced anew.
            if (replaced) {
                removeSnapshotObject(name);
            }
            addSnapshotObject(name);
            if (makeItCurrent) {
                makeCurrent(name);
            }
            log::info("domain '" + def().name + "': snapshot '" + name + "' redefined");
            shared->returnResults(sdbus::ObjectPath(snapshotObjectPath(getObjectPath(), name)));
        });
}

Result<void> DomainObject::checkRedefinition(const SnapshotDef& snapshot) const {
    auto domain = parseDomainXml(snapshot.domainXml);
    if (!domain) {
        return domain.takeError().prefix("the snapshot's definition");
    }
    if (domain.value().def.uuid != def().uuid) {
        return Error(Code::InvalidArgs,
                     "definition for snapshot " + snapshot.name + " must use uuid " + uuidText());
    }
    if (const SnapshotDef* old = m_snapshots.find(snapshot.name);
        old != nullptr && (old->state == "disk-snapshot") != (snapshot.state == "disk-snapshot")) {
        return Error(Code::InvalidArgs, "cannot change between disk only and full system in "
                                        "snapshot " +
                                            snapshot.name);
    }
    // The parent must be known, and not below the snapshot (the tree stays a tree).
    std::string parent = snapshot.parent;
    for (size_t steps = 0; !parent.empty() && steps <= m_snapshots.size(); ++steps) {
        if (parent == snapshot.name) {
            return Error(Code::InvalidArgs,
                         "parent " + snapshot.parent + " would create cycle to " + snapshot.name);
        }
        const SnapshotDef* up = m_snapshots.find(parent);
        if (up == nullptr) {
            return Error(Code::InvalidArgs,
                         "parent " + parent + " for snapshot " + snapshot.name + " not found");
        }
        parent = up->parent;
    }
    return success();
}

Result<SnapshotDef> DomainObject::planSnapshot(const SnapshotRequest& request,
                                               bool diskOnly) const {
    DomainState state = m_model.state();
    if (state != DomainState::Running && state != DomainState::Paused &&
        state != DomainState::Shutoff) {
        return wrongState();
    }
    bool active = state != DomainState::Shutoff;
    SnapshotDef snapshot;
    snapshot.creationTime = static_cast<int64_t>(std::time(nullptr));
    snapshot.name = request.name.empty() ? std::to_string(snapshot.creationTime) : request.name;
    if (m_snapshots.find(snapshot.name) != nullptr) {
        return Error(Code::InvalidState, "domain snapshot '" + snapshot.name + "' already exists");
    }
    snapshot.description = request.description;
    snapshot.state = stateName(state);
    snapshot.parent = m_snapshots.current();
    snapshot.domainXml = m_model.domain().xml;
    if (wantsExternalSnapshot(request, diskOnly)) {
        // The guest's memory would need a file of its own (libvirt's external memory).
        if (active && !diskOnly) {
            return Error(Code::ConfigUnsupported,
                         "external snapshots of a running domain's memory are not supported; "
                         "take a disk-only snapshot");
        }
        auto parts = externalSnapshotDisks(def(), request, snapshot.name);
        if (!parts) {
            return parts.takeError();
        }
        snapshot.memory = "no";
        snapshot.state = diskOnly ? "disk-snapshot" : snapshot.state;
        snapshot.disks = std::move(parts.value());
        return snapshot;
    }
    snapshot.memory = active ? "internal" : "no";
    if (request.memory && *request.memory != snapshot.memory) {
        return Error(Code::ConfigUnsupported,
                     active ? "an internal snapshot of a running domain includes its memory"
                            : "the memory of a shut-off domain cannot be part of a snapshot");
    }
    auto disks = internalSnapshotDisks(def());
    if (!disks) {
        return disks.takeError();
    }
    if (active && disks.value().empty()) {
        return Error(Code::ConfigUnsupported,
                     "an internal snapshot with memory needs a writable qcow2 disk to hold it");
    }
    auto parts = diskParts(def(), disks.value(), request.disks);
    if (!parts) {
        return parts.takeError();
    }
    snapshot.disks = std::move(parts.value());
    return snapshot;
}

void DomainObject::takeSnapshot(SnapshotDef snapshot, SnapshotTaking how,
                                std::function<void(Result<std::string>)> done) {
    auto guard = m_lifetime.guard();
    std::string tag = snapshot.name;
    auto taken = [this, guard, snapshot, halt = how.halt, keep = how.keep,
                  done](Result<void> r) mutable {
        if (!guard.alive()) {
            done(Error(Code::NoSuchDomain, "domain removed"));
            return;
        }
        m_snapshotBusy = false;
        if (!r) {
            done(r.takeError().prefix("cannot take snapshot '" + snapshot.name + "'"));
            return;
        }
        std::string name = snapshot.name;
        std::string path = snapshotObjectPath(getObjectPath(), name);
        if (keep) {
            if (auto stored = m_snapshots.put(std::move(snapshot)); !stored) {
                done(stored.takeError().prefix("snapshot '" + name + "' was taken, but"));
                return;
            }
            addSnapshotObject(name);
            makeCurrent(name);
        }
        log::info("domain '" + def().name + "': snapshot '" + name + "' taken");
        if (!halt || !active()) {
            done(path);
            return;
        }
        m_model.destroy([done, path](Result<void> stopped) {
            done(stopped ? Result<std::string>(path) : Result<std::string>(stopped.takeError()));
        });
    };
    if (isExternal(snapshot)) {
        takeExternalSnapshot(snapshot, how, std::move(taken));
        return;
    }
    if (active()) {
        m_registry.shims().callVoid(uuidHex(), "SnapshotSave", kSnapshotTimeout, std::move(taken),
                                    tag, Options{});
        return;
    }
    runOfflineSnapshot(m_registry.loop(), m_model.domain(), OfflineSnapshotOp::Create, tag,
                       std::move(taken));
}

void DomainObject::takeExternalSnapshot(const SnapshotDef& snapshot, SnapshotTaking how,
                                        ShimDone done) {
    // The next start's definition (a pending redefinition, or the current one) moves onto the
    // overlays; a transient domain has none to keep.
    std::optional<DomainXml> nextConfig;
    if (m_model.persistent()) {
        auto moved = withSnapshotOverlays(m_model.nextDomain(), snapshot);
        if (!moved) {
            done(moved.takeError());
            return;
        }
        nextConfig = std::move(moved.value());
    }
    if (active()) {
        std::vector<sdbus::Struct<std::string, std::string>> overlays;
        for (const auto& part : snapshot.disks) {
            if (part.snapshot == "external") {
                overlays.emplace_back(part.name, part.source);
            }
        }
        Options options;
        if (how.reuseExternal) {
            options["reuse-external"] = sdbus::Variant(true);
        }
        if (how.quiesce) {
            options["quiesce"] = sdbus::Variant(true);
        }
        auto shimStep = [this, overlays, options](ShimDone stepDone) {
            m_registry.shims().callVoid(uuidHex(), "SnapshotDisks", kSnapshotTimeout,
                                        std::move(stepDone), overlays, options);
        };
        changeLiveThenConfig(shimStep, std::move(nextConfig), std::move(done));
        return;
    }
    auto opener = HostPathOpener::forDefiner(m_model.domain().definer);
    if (!opener) {
        done(opener.takeError());
        return;
    }
    auto plans = overlayPlans(def(), snapshot);
    for (auto& plan : plans) {
        plan.reuse = how.reuseExternal;
    }
    auto offlineStep = [this, opener = opener.value(), plans](ShimDone stepDone) {
        createOverlays(m_registry.loop(), opener, plans, std::move(stepDone));
    };
    changeLiveThenConfig(offlineStep, std::move(nextConfig), std::move(done));
}

} // namespace virtswarm::hypervisor
