// SPDX-License-Identifier: LGPL-2.1-or-later
#include "external_snapshot.hpp"

#include "offline_snapshot.hpp"
#include "virtswarm/domain_devices.hpp"

#include <algorithm>
#include <set>

namespace virtswarm::hypervisor {
namespace {

const SnapshotDisk* requested(const SnapshotRequest& request, const std::string& target) {
    auto it = std::find_if(request.disks.begin(), request.disks.end(),
                           [&target](const SnapshotDisk& d) { return d.name == target; });
    return it == request.disks.end() ? nullptr : &*it;
}

Result<void> checkExternalDisk(const DiskDef& disk) {
    if (holdsNoSnapshotData(disk)) {
        return Error(Code::ConfigUnsupported, "disk '" + disk.targetDev +
                                                  "': a cdrom, read-only or empty disk takes no "
                                                  "external snapshot");
    }
    if (disk.isVolume()) {
        return Error(Code::ConfigUnsupported, "disk '" + disk.targetDev +
                                                  "' is a storage volume: external snapshots "
                                                  "need file disks");
    }
    if (disk.format != "raw" && disk.format != "qcow2") {
        return Error(Code::ConfigUnsupported, "external snapshot for disk '" + disk.targetDev +
                                                  "' unsupported for storage type " + disk.format);
    }
    return success();
}

} // namespace

bool wantsExternalSnapshot(const SnapshotRequest& request, bool diskOnly) {
    return diskOnly || std::any_of(request.disks.begin(), request.disks.end(),
                                   [](const SnapshotDisk& d) { return d.snapshot == "external"; });
}

Result<std::vector<SnapshotDisk>> externalSnapshotDisks(const DomainDef& def,
                                                        const SnapshotRequest& request,
                                                        const std::string& name) {
    bool internal = (request.memory && *request.memory == "internal") ||
                    std::any_of(request.disks.begin(), request.disks.end(),
                                [](const SnapshotDisk& d) { return d.snapshot == "internal"; });
    if (internal) {
        return Error(Code::ConfigUnsupported,
                     "mixing internal and external targets for a snapshot is not yet supported");
    }
    for (const auto& part : request.disks) {
        bool known = std::any_of(def.disks.begin(), def.disks.end(),
                                 [&part](const DiskDef& d) { return d.targetDev == part.name; });
        if (!known) {
            return Error(Code::InvalidXML, "no disk named '" + part.name + "' in the domain");
        }
    }
    std::set<std::string> taken;
    for (const auto& disk : def.disks) {
        taken.insert(disk.source);
    }
    std::vector<SnapshotDisk> parts;
    bool any = false;
    for (const auto& disk : def.disks) {
        const SnapshotDisk* asked = requested(request, disk.targetDev);
        bool external =
            asked != nullptr ? asked->snapshot == "external" : !holdsNoSnapshotData(disk);
        if (!external) {
            parts.push_back({disk.targetDev, "no", ""});
            continue;
        }
        if (auto r = checkExternalDisk(disk); !r) {
            return r.takeError();
        }
        std::string overlay = asked != nullptr && !asked->source.empty()
                                  ? asked->source
                                  : defaultOverlayPath(disk.source, name);
        if (!taken.insert(overlay).second) {
            return Error(Code::ConfigUnsupported, "external snapshot file for disk '" +
                                                      disk.targetDev +
                                                      "' collides with an image "
                                                      "of the domain or another overlay: " +
                                                      overlay);
        }
        parts.push_back({disk.targetDev, "external", overlay});
        any = true;
    }
    if (!any) {
        return Error(Code::ConfigUnsupported,
                     "an external snapshot needs at least one writable disk to cover");
    }
    return parts;
}

std::vector<OverlayPlan> overlayPlans(const DomainDef& def, const SnapshotDef& snapshot) {
    std::vector<OverlayPlan> plans;
    for (const auto& part : snapshot.disks) {
        auto disk = std::find_if(def.disks.begin(), def.disks.end(),
                                 [&part](const DiskDef& d) { return d.targetDev == part.name; });
        if (part.snapshot == "external" && disk != def.disks.end()) {
            plans.push_back({part.name, disk->source, disk->format, part.source});
        }
    }
    return plans;
}

Result<DomainXml> withSnapshotOverlays(const DomainXml& domain, const SnapshotDef& snapshot) {
    DomainXml out = domain;
    for (const auto& part : snapshot.disks) {
        if (part.snapshot != "external") {
            continue;
        }
        auto next = withDiskOverlay(out, part.name, part.source);
        if (!next) {
            return next.takeError();
        }
        out = std::move(next.value());
    }
    return out;
}

} // namespace virtswarm::hypervisor
