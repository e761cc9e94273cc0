// SPDX-License-Identifier: LGPL-2.1-or-later
// Removable media of a running guest (virsh change-media, libvirt's UpdateDevice of a
// cdrom or floppy): the shim leases the new image and opens it with the definer's rights,
// as for a hotplugged disk (read-only for a cdrom, read-write for a floppy without
// <readonly/>), QEMU gets it in an fd set and takes it into the drive with
// blockdev-change-medium; an eject empties the drive. The fd set of the media it replaces
// is given back to QEMU (remove-fd), so QEMU keeps no descriptor on an image the guest no
// longer has, and so is its lease.
#include "machine.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/image_chain.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

constexpr std::string_view kFdsetPrefix = "/dev/fdset/";

// The fd set behind the medium query-block shows for the drive whose device is `alias`.
std::optional<int64_t> mediumFdset(const nlohmann::json& blocks, const std::string& alias) {
    if (!blocks.is_array()) {
        return std::nullopt;
    }
    for (const auto& block : blocks) {
        if (block.value("qdev", "") != alias || !block.contains("inserted")) {
            continue;
        }
        std::string file = block["inserted"].value("file", "");
        if (file.rfind(kFdsetPrefix, 0) == 0) {
            try {
                return std::stoll(file.substr(kFdsetPrefix.size()));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

} // namespace

void Machine::updateDevice(const std::string& xmlText, Done done) {
    auto spec = parseMediaChange(xmlText, true);
    if (!spec) {
        done(spec.takeError());
        return;
    }
    auto next = withMediaChanged(m_domain, spec.value(), true);
    if (!next) {
        done(next.takeError());
        return;
    }
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    const DiskDef& media = spec.value().disk;
    if (media.isVolume()) {
        done(Error(Code::OperationUnsupported,
                   "live update of disk '" + media.targetDev + "': a volume as media"));
        return;
    }
    std::string alias = aliasOf(m_domain, spec.value());
    if (alias.empty()) {
        done(Error(Code::Internal,
                   "the " + media.device + " " + media.targetDev + " has no QEMU id recorded"));
        return;
    }
    std::string oldSource = leasedSourceOf(media.targetDev);
    // Learn which fd set holds the media now, before it is replaced.
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-block", nullptr,
                  [this, guard, media, alias, oldSource, next = std::move(next).value(),
                   done](Result<nlohmann::json> blocks) mutable {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!blocks) {
                          done(blocks.takeError().prefix("reading the drives"));
                          return;
                      }
                      auto old = mediumFdset(blocks.value(), alias);
                      // The drive's image by another name keeps its lease: lockd knows
                      // the file, not the name.
                      bool keepsImage = sameImage(m_opener, oldSource, media.source);
                      // `next` kept the drive's <alias> (withMediaChanged).
                      Done finish = [this, guard, old, oldSource, keepsImage,
                                     target = media.targetDev, live = std::move(next),
                                     done](Result<void> r) {
                          if (!guard.alive()) {
                              return;
                          }
                          if (r) {
                              if (old) {
                                  m_qmp.execute("remove-fd", {{"fdset-id", *old}},
                                                [](Result<nlohmann::json>) {});
                              }
                              if (!oldSource.empty() && !keepsImage) {
                                  m_leases->release(oldSource);
                                  releaseVolumeHold(target);
                              }
                              commitLiveDefinition(live);
                          }
                          done(std::move(r));
                      };
                      if (media.source.empty()) {
                          ejectMedium(alias, std::move(finish));
                      } else {
                          leaseAndInsertMedium(media, alias, oldSource, std::move(finish));
                      }
                  });
}

// The guest's tray lock does not hold the media in (libvirt's --force; a guest that
// mounted the disc would otherwise keep it forever).
void Machine::ejectMedium(const std::string& alias, Done done) {
    m_qmp.execute("eject", {{"id", alias}, {"force", true}}, [done](Result<nlohmann::json> r) {
        if (!r) {
            done(r.takeError().prefix("ejecting the media"));
            return;
        }
        done(success());
    });
}

void Machine::leaseAndInsertMedium(const DiskDef& media, const std::string& alias,
                                   const std::string& oldSource, Done done) {
    if (media.source == oldSource) {
        insertMedium(media, alias, std::move(done)); // leased already
        return;
    }
    if (sameImage(m_opener, oldSource, media.source)) {
        // The drive's image by another name: lockd's lease on it takes the new name (the
        // one the live definition will have, and later releases by); should QEMU refuse
        // the change, the lease stays, as the drive still holds the image.
        auto guard = m_lifetime.guard();
        m_leases->acquire({media}, m_opener, {}, [this, guard, media, alias, done](Result<void> r) {
            if (!guard.alive()) {
                return;
            }
            if (!r) {
                done(std::move(r));
                return;
            }
            insertMedium(media, alias, done);
        });
        return;
    }
    m_leases->withLease(
        {media}, m_opener, {}, m_lifetime.guard(),
        [this, media, alias](Done inserted) { insertMedium(media, alias, std::move(inserted)); },
        std::move(done));
}

void Machine::insertMedium(const DiskDef& media, const std::string& alias, Done done) {
    std::string what = media.device + " " + media.targetDev;
    auto opened = m_opener.openImage(media.source, media.readonly ? O_RDONLY : O_RDWR, what);
    if (!opened) {
        done(opened.takeError());
        return;
    }
    int fd = opened.value();
    if (auto single = requireUnbacked(fd, media.format, what); !single) {
        ::close(fd);
        done(single.takeError());
        return;
    }
    auto guard = m_lifetime.guard();
    m_qmp.executeWithFd(
        "add-fd", {{"opaque", "virtswarm-media:" + alias}}, fd,
        [this, guard, media, alias, done](Result<nlohmann::json> added) {
            if (!guard.alive()) {
                return;
            }
            if (!added || !added.value().contains("fdset-id") ||
                !added.value()["fdset-id"].is_number_integer()) {
                done(added ? Error(Code::OperationFailed, "add-fd returned no fd set")
                           : added.takeError().prefix("handing the media to QEMU"));
                return;
            }
            int64_t set = added.value()["fdset-id"].get<int64_t>();
            nlohmann::json args{{"id", alias},
                                {"filename", std::string(kFdsetPrefix) + std::to_string(set)},
                                {"format", media.format},
                                {"read-only-mode", media.readonly ? "read-only" : "read-write"},
                                {"force", true}};
            m_qmp.execute("blockdev-change-medium", args,
                          [this, guard, set, done](Result<nlohmann::json> changed) {
                              if (!guard.alive()) {
                                  return;
                              }
                              if (changed) {
                                  done(success());
                                  return;
                              }
                              // The drive keeps what it had; the new image goes back.
                              Error why = changed.takeError().prefix("changing the media");
                              m_qmp.execute("remove-fd", {{"fdset-id", set}},
                                            [why, done](Result<nlohmann::json>) { done(why); });
                          });
        });
    ::close(fd);
}

} // namespace virtswarm::shim
