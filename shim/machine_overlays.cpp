// SPDX-License-Identifier: LGPL-2.1-or-later
// External snapshots of a running guest: each disk's image becomes the read-only backing of
// a new qcow2 overlay, which the guest writes into from then on (QEMU's
// blockdev-snapshot-sync with an overlay that already exists). The overlays are created
// with the definer's rights, leased from lockd and reach QEMU as descriptors in fd sets,
// like every image.
#include "machine.hpp"
#include "qemu_ids.hpp"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

Result<std::vector<OverlayPlan>>
plansFor(const DomainDef& def, const std::vector<std::pair<std::string, std::string>>& overlays,
         bool reuse) {
    std::vector<OverlayPlan> plans;
    for (const auto& [target, overlay] : overlays) {
        auto disk = std::find_if(def.disks.begin(), def.disks.end(),
                                 [&target](const DiskDef& d) { return d.targetDev == target; });
        if (disk == def.disks.end()) {
            return Error(Code::DeviceMissing, "no disk with target '" + target + "'");
        }
        if (disk->device != "disk" || disk->source.empty() ||
            (disk->format != "raw" && disk->format != "qcow2")) {
            return Error(Code::ConfigUnsupported,
                         "external snapshot for disk '" + target + "' unsupported");
        }
        if (overlay.empty() || overlay.front() != '/') {
            return Error(Code::InvalidArgs, "an overlay is an absolute path");
        }
        plans.push_back({target, disk->source, disk->format, overlay, reuse});
    }
    return plans;
}

// The node a disk's guest device reads from now: after an earlier snapshot it is an
// overlay's, which QEMU named itself.
std::optional<std::string> topNode(const nlohmann::json& blocks, const std::string& alias) {
    if (!blocks.is_array()) {
        return std::nullopt;
    }
    std::string peripheral = "/machine/peripheral/" + alias + "/";
    for (const auto& block : blocks) {
        if (!block.is_object() || !block.contains("inserted") || !block["inserted"].is_object()) {
            continue;
        }
        std::string device = block.value("device", "");
        std::string qdev = block.value("qdev", "");
        if (device == qemu_id::diskNode(alias) || qdev == alias || qdev.rfind(peripheral, 0) == 0) {
            std::string node = block["inserted"].value("node-name", "");
            if (!node.empty()) {
                return node;
            }
        }
    }
    return std::nullopt;
}

} // namespace

void Machine::snapshotDisks(const std::vector<std::pair<std::string, std::string>>& overlays,
                            DiskSnapshotHow how, Done done) {
    // Refused before any overlay is made; whileFrozen asks again once they are.
    if (auto frozenOk = how.quiesce ? canFreeze() : Result<void>{}; !frozenOk) {
        done(frozenOk.takeError());
        return;
    }
    auto plans = plansFor(m_domain.def, overlays, how.reuse);
    if (!plans) {
        done(plans.takeError());
        return;
    }
    auto begun = beginSnapshotJob("external snapshot", done);
    if (!begun) {
        done(begun.takeError());
        return;
    }
    auto guard = m_lifetime.guard();
    Done finish = std::move(begun).value();
    createOverlays(
        m_loop, m_opener, plans.value(),
        [this, guard, plans = plans.value(), quiesce = how.quiesce, finish](Result<void> made) {
            if (!guard.alive()) {
                return;
            }
            if (!made) {
                finish(std::move(made));
                return;
            }
            leaseOverlays(plans, quiesce, finish);
        });
}

// The overlays are what the guest writes from now on: each gets the exclusive lease a
// writable disk has, before QEMU gets it, so no other domain starts on it. The image under
// it keeps its own lease: writing it would corrupt the overlay. Whatever fails leaves the
// guest on its images: the overlays go again, and so do their leases.
void Machine::leaseOverlays(std::vector<OverlayPlan> plans, bool quiesce, Done done) {
    std::vector<DiskDef> overlays;
    for (const auto& plan : plans) {
        DiskDef overlay;
        overlay.targetDev = plan.target;
        overlay.source = plan.overlay;
        overlay.format = "qcow2";
        overlays.push_back(std::move(overlay));
    }
    m_leases->withLease(
        overlays, m_opener, {}, m_lifetime.guard(),
        [this, plans, quiesce](Done moved) {
            if (!quiesce) {
                moveOntoOverlays(plans, std::move(moved));
                return;
            }
            // Frozen for the transaction only: the guest's filesystems are consistent on
            // the images the overlays go over.
            whileFrozen([this, plans](Done frozen) { moveOntoOverlays(plans, std::move(frozen)); },
                        std::move(moved));
        },
        [this, plans, done](Result<void> r) {
            if (!r) {
                removeOverlays(m_opener, plans);
            }
            done(std::move(r));
        });
}

// Fails with the guest still on its images and QEMU holding none of the overlays.
void Machine::moveOntoOverlays(std::vector<OverlayPlan> plans, Done done) {
    auto guard = m_lifetime.guard();
    auto undo = [this, done](const std::vector<int64_t>& sets, Error why) {
        removeFdSets(sets);
        done(std::move(why));
    };
    addOverlayFdSets(
        plans, 0, {}, [this, guard, plans, undo, done](Result<std::vector<int64_t>> sets) {
            if (!guard.alive()) {
                return;
            }
            if (!sets) {
                undo({}, sets.takeError().prefix("handing the overlays to QEMU"));
                return;
            }
            m_qmp.execute(
                "query-block", nullptr,
                [this, guard, plans, sets = sets.value(), undo,
                 done](Result<nlohmann::json> blocks) {
                    if (!guard.alive()) {
                        return;
                    }
                    nlohmann::json actions = nlohmann::json::array();
                    for (size_t i = 0; i < plans.size(); ++i) {
                        auto node = blocks ? topNode(blocks.value(), qemu_id::disk(plans[i].target))
                                           : std::nullopt;
                        if (!node) {
                            undo(sets, Error(Code::OperationFailed,
                                             "QEMU names no block node for disk '" +
                                                 plans[i].target + "'"));
                            return;
                        }
                        actions.push_back(
                            {{"type", "blockdev-snapshot-sync"},
                             {"data",
                              {{"node-name", *node},
                               // Unique while QEMU runs: fd set ids are never reused.
                               {"snapshot-node-name",
                                "overlay-" + plans[i].target + "-" + std::to_string(sets[i])},
                               {"snapshot-file", "/dev/fdset/" + std::to_string(sets[i])},
                               {"format", "qcow2"},
                               {"mode", "existing"}}}});
                    }
                    m_qmp.execute(
                        "transaction", {{"actions", actions}},
                        [this, guard, plans, sets, undo, done](Result<nlohmann::json> r) {
                            if (!guard.alive()) {
                                return;
                            }
                            if (!r) {
                                undo(sets, r.takeError().prefix("QEMU"));
                                return;
                            }
                            DomainXml live = m_domain;
                            for (const auto& plan : plans) {
                                if (auto moved = withDiskOverlay(live, plan.target, plan.overlay)) {
                                    live = std::move(moved).value();
                                }
                            }
                            commitLiveDefinition(std::move(live));
                            done(success());
                        });
                });
        });
}

// Each overlay in a set of its own, open for writing and for reading (QEMU reopens an
// image read-only once another overlay goes over it).
void Machine::addOverlayFdSets(std::vector<OverlayPlan> plans, size_t index,
                               std::vector<int64_t> sets,
                               std::function<void(Result<std::vector<int64_t>>)> done) {
    if (index == plans.size()) {
        done(std::move(sets));
        return;
    }
    const OverlayPlan& plan = plans[index];
    std::vector<int> fds;
    for (int mode : {O_RDWR, O_RDONLY}) {
        auto fd = m_opener.openImage(plan.overlay, mode, "snapshot of disk " + plan.target);
        if (!fd) {
            for (int open : fds) {
                ::close(open);
            }
            removeFdSets(sets);
            done(fd.takeError());
            return;
        }
        fds.push_back(fd.value());
    }
    auto guard = m_lifetime.guard();
    addFdSet(qemu_id::diskFdset(qemu_id::disk(plan.target)), std::move(fds), std::nullopt,
             [this, guard, plans, index, sets, done](Result<int64_t> set) mutable {
                 if (!guard.alive()) {
                     return;
                 }
                 if (!set) {
                     removeFdSets(sets);
                     done(set.takeError());
                     return;
                 }
                 sets.push_back(set.value());
                 addOverlayFdSets(std::move(plans), index + 1, std::move(sets), std::move(done));
             });
}

void Machine::removeFdSets(const std::vector<int64_t>& sets) {
    for (int64_t set : sets) {
        m_qmp.execute("remove-fd", {{"fdset-id", set}}, [](Result<nlohmann::json>) {});
    }
}

} // namespace virtswarm::shim
