// SPDX-License-Identifier: LGPL-2.1-or-later
#include "offline_snapshot.hpp"

#include "virtswarm/command.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/host_tools.hpp"
#include "virtswarm/log.hpp"

#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

constexpr int kImageFdInChild = 3;

const char* flagOf(OfflineSnapshotOp op) {
    switch (op) {
    case OfflineSnapshotOp::Create:
        return "-c";
    case OfflineSnapshotOp::Apply:
        return "-a";
    case OfflineSnapshotOp::Delete:
        return "-d";
    }
    return "-l";
}

// One image after the other; `done` once all are through or at the first failure, with
// how many succeeded.
struct OfflineRun : std::enable_shared_from_this<OfflineRun> {
    EventLoop& loop;
    HostPathOpener opener;
    std::vector<std::pair<std::string, std::string>> images; // (target, path)
    OfflineSnapshotOp op;
    std::string name;
    // Told the run itself rather than capturing it, so the run holds no cycle.
    std::function<void(OfflineRun&, Result<void>, size_t reached)> done;

    OfflineRun(EventLoop& l, HostPathOpener o, OfflineSnapshotOp p)
        : loop(l)
        , opener(std::move(o))
        , op(p) {}

    void next(size_t index) {
        if (index == images.size()) {
            done(*this, success(), index);
            return;
        }
        const auto& [target, path] = images[index];
        auto fd = opener.openImage(path, O_RDWR, "disk '" + target + "'");
        if (!fd) {
            done(*this, fd.takeError(), index);
            return;
        }
        // The image alone: its backing chain is not part of an internal snapshot.
        std::string image = "json:{\"driver\":\"qcow2\",\"backing\":null,\"file\":{\"driver\":"
                            "\"file\",\"filename\":\"/dev/fd/" +
                            std::to_string(kImageFdInChild) + "\"}}";
        auto self = shared_from_this();
        Command::run(loop, {host_tools::kQemuImg, "snapshot", flagOf(op), name, image},
                     [self, index, fd = fd.value(), target](Result<std::string> r) {
                         ::close(fd);
                         if (!r) {
                             self->done(*self, r.takeError().prefix("disk '" + target + "'"),
                                        index);
                             return;
                         }
                         self->next(index + 1);
                     },
                     {}, {{fd.value(), kImageFdInChild}});
    }
};

} // namespace

bool holdsNoSnapshotData(const DiskDef& disk) {
    return disk.device != "disk" || disk.readonly || (disk.source.empty() && !disk.isVolume());
}

Result<std::vector<const DiskDef*>> internalSnapshotDisks(const DomainDef& def) {
    const FirmwareDef& firmware = def.platform.firmware;
    if (firmware.efi &&
        (firmware.loaderType == "pflash" || firmware.autoSelect || !firmware.nvram.empty())) {
        return Error(Code::ConfigUnsupported,
                     "internal snapshots of a VM with pflash based firmware are not supported");
    }
    std::vector<const DiskDef*> disks;
    for (const auto& disk : def.disks) {
        if (holdsNoSnapshotData(disk)) {
            continue;
        }
        if (disk.isVolume()) {
            // A volume's image is storaged's to find; it names the file only at start.
            return Error(Code::ConfigUnsupported,
                         "internal snapshot of a shut-off domain needs file disks; '" +
                             disk.targetDev + "' is a storage volume");
        }
        if (disk.format != "qcow2") {
            return Error(Code::ConfigUnsupported, "internal snapshot for disk '" + disk.targetDev +
                                                      "' unsupported for storage type " +
                                                      disk.format);
        }
        disks.push_back(&disk);
    }
    return disks;
}

void runOfflineSnapshot(EventLoop& loop, const DomainXml& domain, OfflineSnapshotOp op,
                        const std::string& name, std::function<void(Result<void>)> done) {
    auto disks = internalSnapshotDisks(domain.def);
    if (!disks) {
        done(disks.takeError());
        return;
    }
    auto opener = HostPathOpener::forDefiner(domain.definer);
    if (!opener) {
        done(opener.takeError());
        return;
    }
    auto run = std::make_shared<OfflineRun>(loop, opener.value(), op);
    for (const DiskDef* disk : disks.value()) {
        run->images.emplace_back(disk->targetDev, disk->source);
    }
    run->name = name;
    run->done = [&loop, op, done](OfflineRun& self, Result<void> r, size_t reached) {
        if (r || op != OfflineSnapshotOp::Create || reached == 0) {
            done(std::move(r));
            return;
        }
        // Take the snapshot back out of the images that got it, then report the failure.
        auto undo = std::make_shared<OfflineRun>(loop, self.opener, OfflineSnapshotOp::Delete);
        undo->images.assign(self.images.begin(),
                            self.images.begin() + static_cast<std::ptrdiff_t>(reached));
        undo->name = self.name;
        undo->done = [done, failure = r.error()](OfflineRun&, Result<void> undone, size_t) {
            if (!undone) {
                log::error("cannot take the failed snapshot back out: " + undone.error().message());
            }
            done(failure);
        };
        undo->next(0);
    };
    run->next(0);
}

} // namespace virtswarm::hypervisor
