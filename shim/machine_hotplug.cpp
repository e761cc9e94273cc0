// SPDX-License-Identifier: LGPL-2.1-or-later
// Device hotplug: virtio disks and NICs added to and removed from a running guest.
#include "machine.hpp"
#include "qemu_command.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/image_chain.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

// How long the guest gets to release an unplugged device (it must cooperate: ACPI
// hotplug). libvirt waits 5 s by default; TCG guests are slower.
constexpr auto kUnplugTimeout = std::chrono::seconds(20);

} // namespace

void Machine::annotateAliases() {
    DomainXml live = m_domain;
    for (size_t i = 0; i < live.def.disks.size(); ++i) {
        if (auto r = withAlias(live, "disk", i, qemu_id::disk(live.def.disks[i].targetDev))) {
            live = std::move(r).value();
        }
    }
    for (size_t i = 0; i < live.def.interfaces.size(); ++i) {
        if (auto r = withAlias(live, "interface", i, qemu_id::bootNic(i))) {
            live = std::move(r).value();
        }
        if (auto tap = m_taps.find(i); tap != m_taps.end()) {
            if (auto r = withInterfaceTarget(live, i, tap->second.ifname)) {
                live = std::move(r).value();
            }
        }
    }
    annotatePlatformAliases(live);
    commitLiveDefinition(std::move(live));
}

void Machine::commitLiveDefinition(DomainXml updated) {
    // A device change does not change whom the definition belongs to: the registry's
    // definer record stays bound to the definition it wrote (domain.xml), which the shim
    // never rewrites; the live definition is the shim's own file.
    updated.definer = m_domain.definer;
    m_domain = std::move(updated);
    auto r = writeFileAtomic(m_files.liveXml, m_domain.xml, 0600);
    if (!r) {
        log::warning("cannot record the live definition: " + r.error().message());
    }
}

Result<Machine::DeviceChange> Machine::prepareDeviceChange(const std::string& xmlText,
                                                           DeviceEdit edit) const {
    auto spec = parseDeviceXml(xmlText);
    if (!spec) {
        return spec.takeError();
    }
    auto updated = edit(m_domain, spec.value());
    if (!updated) {
        return updated.takeError();
    }
    if (!m_qmp.connected()) {
        return Error(Code::HypervisorGone, "the QEMU monitor is not connected");
    }
    return DeviceChange{std::move(spec).value(), std::move(updated).value()};
}

void Machine::attachDevice(const std::string& xmlText, Done done) {
    auto change = prepareDeviceChange(xmlText, withDeviceAdded);
    if (!change) {
        done(change.takeError());
        return;
    }
    const DeviceSpec& dev = change.value().device;
    DomainXml& next = change.value().next;
    if (dev.kind == DeviceSpec::Kind::Disk) {
        if (dev.disk.bus != "virtio") {
            done(Error(Code::NotSupported, "only virtio disks can be hotplugged"));
            return;
        }
        if (dev.disk.source.empty() && !dev.disk.isVolume()) {
            done(Error(Code::InvalidXML, "a hotplugged disk needs a source"));
            return;
        }
        if (dev.disk.isVolume()) {
            plugVolumeDisk(dev.disk, std::move(next), std::move(done));
        } else {
            plugFileDisk(dev.disk, std::move(next), std::move(done));
        }
    } else if (dev.nic.type == "user") {
        plugUserInterface(dev.nic, std::move(next), std::move(done));
    } else {
        plugTapInterface(std::move(next), std::move(done));
    }
}

void Machine::plugUserInterface(const InterfaceDef& nic, DomainXml next, Done done) {
    std::string alias = qemu_id::hotplugNic(nic.mac);
    std::string netdev = qemu_id::nicBackend(alias);
    Plug plug;
    plug.what = "interface";
    plug.backendCommand = "netdev_add";
    plug.backendArgs = {{"type", "user"}, {"id", netdev}};
    plug.undoCommand = "netdev_del";
    plug.undoArgs = {{"id", netdev}};
    plug.device = {
        {"driver", qemuNicDevice(nic.model)}, {"netdev", netdev}, {"id", alias}, {"mac", nic.mac}};
    plug.live = withAlias(next, "interface", next.def.interfaces.size() - 1, alias).value_or(next);
    plugDevice(std::move(plug), std::move(done));
}

// The shim opens the image, as at boot: QEMU's user need not be able to, and in session
// mode nothing the user cannot open gets opened. It is leased before QEMU gets it, and
// the lease is given back if QEMU does not take the disk.
void Machine::plugFileDisk(const DiskDef& disk, DomainXml next, Done done) {
    m_leases->withLease(
        {disk}, m_opener, {}, m_lifetime.guard(),
        [this, disk, next = std::move(next)](Done plugged) mutable {
            auto opened = m_opener.openImage(disk.source, disk.readonly ? O_RDONLY : O_RDWR,
                                             "disk " + disk.targetDev);
            if (!opened) {
                plugged(opened.takeError());
                return;
            }
            if (auto single =
                    requireUnbacked(opened.value(), disk.format, "disk " + disk.targetDev);
                !single) {
                ::close(opened.value());
                plugged(single.takeError());
                return;
            }
            plugDiskFds(disk, {opened.value()}, std::move(next), std::move(plugged));
        },
        std::move(done));
}

// <disk type='volume'>: storaged opens the volume after its own polkit check for the
// definer and records this shim as its holder (volume_disks.hpp); lockd then leases the
// image storaged opened. A plug refused by lockd or QEMU ends the hold (and the lease)
// again, a detach too (detachDevice).
void Machine::plugVolumeDisk(const DiskDef& disk, DomainXml next, Done done) {
    if (m_volumeBroker == nullptr) {
        done(Error(Code::Internal, "no connection to virtswarm-storaged"));
        return;
    }
    auto guard = m_lifetime.guard();
    m_volumeBroker->open(disk, [this, guard, disk, next = std::move(next),
                                done](Result<OpenedVolume> opened) mutable {
        if (!guard.alive()) {
            if (opened) {
                for (int fd : opened.value().fds) {
                    ::close(fd);
                }
            }
            return;
        }
        if (!opened) {
            done(opened.takeError());
            return;
        }
        DiskDef resolved = disk;
        resolved.source = opened.value().path;
        resolved.format = opened.value().format;
        VolumeFds fds{{resolved.source, opened.value().fds}};
        // As for a file disk: a hotplugged image has no backing chain.
        if (auto single = requireUnbacked(opened.value().fds.front(), resolved.format,
                                          "disk " + resolved.targetDev);
            !single) {
            closeVolumeFds(fds);
            m_volumeBroker->release({resolved.source});
            done(single.takeError());
            return;
        }
        m_leases->acquire({resolved}, m_opener, fds,
                          [this, guard, resolved, fds, next = std::move(next),
                           done](Result<void> leased) mutable {
                              if (!guard.alive()) {
                                  closeVolumeFds(fds);
                                  return;
                              }
                              if (!leased) {
                                  closeVolumeFds(fds);
                                  m_volumeBroker->release({resolved.source});
                                  done(std::move(leased));
                                  return;
                              }
                              plugLeasedVolume(resolved, fds.begin()->second, std::move(next),
                                               std::move(done));
                          });
    });
}

void Machine::plugLeasedVolume(const DiskDef& disk, std::vector<int> fds, DomainXml next,
                               Done done) {
    auto guard = m_lifetime.guard();
    plugDiskFds(disk, std::move(fds), std::move(next),
                [this, guard, path = disk.source, target = disk.targetDev, done](Result<void> r) {
                    if (!guard.alive()) {
                        return;
                    }
                    if (r) {
                        m_volumePaths[target] = path;
                    } else {
                        m_leases->release(path);
                        m_volumeBroker->release({path});
                    }
                    done(std::move(r));
                });
}

// QEMU receives the descriptors in a new fd set (add-fd) and the node opens
// /dev/fdset/N, which takes a copy of the one matching its access mode. `fds` are ours
// to close.
void Machine::plugDiskFds(const DiskDef& disk, std::vector<int> fds, DomainXml next, Done done) {
    std::string alias = qemu_id::disk(disk.targetDev);
    std::string node = qemu_id::diskNode(alias);
    Plug plug;
    plug.what = "disk";
    plug.backendCommand = "blockdev-add";
    plug.backendArgs = {{"driver", disk.format}, {"node-name", node}, {"read-only", disk.readonly}};
    plug.undoCommand = "blockdev-del";
    plug.undoArgs = {{"node-name", node}};
    plug.device = {{"driver", "virtio-blk-pci"}, {"drive", node}, {"id", alias}};
    plug.live = withAlias(next, "disk", next.def.disks.size() - 1, alias).value_or(next);
    auto guard = m_lifetime.guard();
    addFdSet(qemu_id::diskFdset(alias), std::move(fds), std::nullopt,
             [this, guard, plug = std::move(plug), done](Result<int64_t> set) mutable {
                 if (!guard.alive()) {
                     return;
                 }
                 if (!set) {
                     done(set.takeError().prefix("handing the image to QEMU"));
                     return;
                 }
                 plug.backendArgs["file"] = {
                     {"driver", "file"}, {"filename", "/dev/fdset/" + std::to_string(set.value())}};
                 plug.releaseCommand = "remove-fd";
                 plug.releaseArgs = {{"fdset-id", set.value()}};
                 plugDevice(std::move(plug), std::move(done));
             });
}

void Machine::addFdSet(const std::string& opaque, std::vector<int> fds, std::optional<int64_t> set,
                       std::function<void(Result<int64_t>)> done) {
    int fd = fds.front();
    std::vector<int> rest(fds.begin() + 1, fds.end());
    nlohmann::json args{{"opaque", opaque}};
    if (set) {
        args["fdset-id"] = *set;
    }
    auto guard = m_lifetime.guard();
    m_qmp.executeWithFd(
        "add-fd", args, fd,
        [this, guard, opaque, rest, set, done](Result<nlohmann::json> added) mutable {
            bool ok = guard.alive() && added && added.value().contains("fdset-id") &&
                      added.value()["fdset-id"].is_number_integer();
            if (!ok) {
                for (int other : rest) {
                    ::close(other);
                }
                if (!guard.alive()) {
                    return;
                }
                if (set) { // the part already added goes back
                    m_qmp.execute("remove-fd", {{"fdset-id", *set}}, [](Result<nlohmann::json>) {});
                }
                done(added ? Error(Code::OperationFailed, "add-fd returned no fd set")
                           : added.takeError());
                return;
            }
            int64_t id = added.value()["fdset-id"].get<int64_t>();
            if (rest.empty()) {
                done(id);
                return;
            }
            addFdSet(opaque, std::move(rest), id, std::move(done));
        });
    ::close(fd);
}

// A detached volume disk is no longer the domain's: storaged may let it be deleted.
void Machine::releaseVolumeHold(const std::string& target) {
    auto held = m_volumePaths.find(target);
    if (held == m_volumePaths.end() || m_volumeBroker == nullptr) {
        return;
    }
    m_volumeBroker->release({held->second});
    m_volumePaths.erase(held);
}

// Frees the fd sets a hotplugged disk's image came in (none for boot-time disks).
void Machine::releaseDiskFdsets(const std::string& alias, std::function<void()> then) {
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-fdsets", nullptr, [this, guard, alias, then](Result<nlohmann::json> sets) {
        if (!guard.alive()) {
            return;
        }
        std::vector<nlohmann::json> ours;
        for (const auto& set : sets&& sets.value().is_array() ? sets.value() : nlohmann::json()) {
            for (const auto& fd : set.value("fds", nlohmann::json::array())) {
                if (fd.value("opaque", "") == qemu_id::diskFdset(alias) &&
                    set.contains("fdset-id")) {
                    ours.push_back(set["fdset-id"]);
                    break;
                }
            }
        }
        if (ours.empty()) {
            then();
            return;
        }
        // The monitor answers in order: once the last removal is answered, QEMU has closed
        // every descriptor of the disk's sets.
        for (size_t i = 0; i < ours.size(); ++i) {
            bool last = i + 1 == ours.size();
            m_qmp.execute("remove-fd", {{"fdset-id", ours[i]}},
                          [guard, last, then](Result<nlohmann::json>) {
                              if (guard.alive() && last) {
                                  then();
                              }
                          });
        }
    });
}

// A NIC on a network or host bridge: networkd creates the TAP for us, QEMU receives it
// through its monitor (getfd) and the netdev takes it by name. Only QEMU holds it then,
// so the TAP disappears with the netdev.
void Machine::plugTapInterface(DomainXml next, Done done) {
    if (m_tapBroker == nullptr) {
        done(Error(Code::Internal, "no connection to virtswarm-networkd"));
        return;
    }
    size_t index = next.def.interfaces.size() - 1;
    InterfaceDef nic = next.def.interfaces[index];
    auto guard = m_lifetime.guard();
    m_tapBroker->acquire(
        nic, m_domain.def,
        [this, guard, nic, index, next = std::move(next),
         done](Result<TapBroker::Tap> tap) mutable {
            if (!guard.alive()) {
                if (tap) {
                    ::close(tap.value().fd);
                }
                return;
            }
            if (!tap) {
                done(tap.takeError());
                return;
            }
            std::string alias = qemu_id::hotplugNic(nic.mac);
            std::string netdev = qemu_id::nicBackend(alias);
            std::string fdName = qemu_id::nicTapFd(alias);
            Plug plug;
            plug.what = "interface";
            plug.backendCommand = "netdev_add";
            plug.backendArgs = {{"type", "tap"}, {"id", netdev}, {"fd", fdName}};
            // netdev_add takes the descriptor; one it refused is still the monitor's.
            plug.releaseCommand = "closefd";
            plug.releaseArgs = {{"fdname", fdName}};
            plug.undoCommand = "netdev_del";
            plug.undoArgs = {{"id", netdev}};
            plug.device = {{"driver", qemuNicDevice(nic.model)},
                           {"netdev", netdev},
                           {"id", alias},
                           {"mac", nic.mac}};
            DomainXml live = withAlias(next, "interface", index, alias).value_or(next);
            plug.live = withInterfaceTarget(live, index, tap.value().ifname).value_or(live);
            // The monitor sends its own copy; ours goes now.
            m_qmp.executeWithFd(
                "getfd", {{"fdname", fdName}}, tap.value().fd,
                [this, guard, plug = std::move(plug), done](Result<nlohmann::json> r) mutable {
                    if (!guard.alive()) {
                        return;
                    }
                    if (!r) {
                        done(r.takeError().prefix("handing the TAP to QEMU"));
                        return;
                    }
                    plugDevice(std::move(plug), std::move(done));
                });
            ::close(tap.value().fd);
        });
}

// Backend first, then the device; a device QEMU refuses takes its backend away again, so
// a failed plug leaves nothing behind.
void Machine::plugDevice(Plug plug, Done done) {
    auto guard = m_lifetime.guard();
    auto shared = std::make_shared<Plug>(std::move(plug));
    // A descriptor handed to the monitor for this plug is given back before a failure is
    // answered, so nothing of the attempt remains.
    auto fail = [this, guard, shared, done](Error error) {
        if (shared->releaseCommand.empty() || !guard.alive() || !m_qmp.connected()) {
            done(std::move(error));
            return;
        }
        auto kept = std::make_shared<Error>(std::move(error));
        m_qmp.execute(shared->releaseCommand, shared->releaseArgs,
                      [kept, done](Result<nlohmann::json>) { done(*kept); });
    };
    m_qmp.execute(
        shared->backendCommand, shared->backendArgs,
        [this, guard, shared, done, fail](Result<nlohmann::json> backend) {
            if (!guard.alive()) {
                return;
            }
            if (!backend) {
                fail(backend.takeError().prefix("adding the " + shared->what + " backend"));
                return;
            }
            m_qmp.execute("device_add", shared->device,
                          [this, guard, shared, done, fail](Result<nlohmann::json> device) {
                              if (!guard.alive()) {
                                  return;
                              }
                              if (!device) {
                                  m_qmp.execute(shared->undoCommand, shared->undoArgs,
                                                [](Result<nlohmann::json>) {});
                                  fail(device.takeError().prefix("plugging the " + shared->what));
                                  return;
                              }
                              commitLiveDefinition(shared->live);
                              done(success());
                          });
        });
}

void Machine::unplug(const std::string& deviceId, std::function<void(Result<void>)> released) {
    auto guard = m_lifetime.guard();
    auto timer = std::make_shared<EventSource>();
    m_pendingUnplugs[deviceId] = [timer, released] {
        timer->reset();
        released(success());
    };
    *timer = m_loop.addTimer(kUnplugTimeout, [this, guard, deviceId, released] {
        if (guard.alive() && m_pendingUnplugs.erase(deviceId) > 0) {
            released(Error(Code::Timeout,
                           "the guest did not release device '" + deviceId + "' in time"));
        }
    });
    m_qmp.execute("device_del", {{"id", deviceId}},
                  [this, guard, deviceId, released](Result<nlohmann::json> r) {
                      if (guard.alive() && !r && m_pendingUnplugs.erase(deviceId) > 0) {
                          released(r.takeError().prefix("unplugging " + deviceId));
                      }
                  });
}

// The lease is on the image as the live definition names it, or, for a volume, on the
// path storaged resolved it to.
std::string Machine::leasedSourceOf(const std::string& target) const {
    if (auto volume = m_volumePaths.find(target); volume != m_volumePaths.end()) {
        return volume->second;
    }
    for (const auto& d : m_domain.def.disks) {
        if (d.targetDev == target) {
            return d.source;
        }
    }
    return "";
}

void Machine::detachDevice(const std::string& xmlText, Done done) {
    auto change = prepareDeviceChange(xmlText, withDeviceRemoved);
    if (!change) {
        done(change.takeError());
        return;
    }
    const DeviceSpec& dev = change.value().device;
    std::string alias = aliasOf(m_domain, dev);
    if (alias.empty()) {
        done(Error(Code::Internal, "the device has no QEMU id recorded"));
        return;
    }
    bool disk = dev.kind == DeviceSpec::Kind::Disk;
    std::string leasedSource = disk ? leasedSourceOf(dev.disk.targetDev) : "";
    auto guard = m_lifetime.guard();
    unplug(alias, [=, this, updated = std::move(change.value().next)](Result<void> r) {
        if (!guard.alive()) {
            return;
        }
        if (!r) {
            done(std::move(r));
            return;
        }
        auto finish = [this, guard, alias, updated, done] {
            if (!guard.alive()) {
                return;
            }
            commitLiveDefinition(updated);
            if (m_listener.deviceRemoved) {
                m_listener.deviceRemoved(alias);
            }
            done(success());
        };
        if (!disk) {
            m_qmp.execute("netdev_del", {{"id", qemu_id::nicBackend(alias)}},
                          [](Result<nlohmann::json>) {});
            finish();
            return;
        }
        // Backends outlive their device; free them (boot-time -drive backends go away
        // with the device, so an error here is expected and harmless). The image's lease
        // and volume hold go only once QEMU has closed it: another domain may take it then.
        m_qmp.execute("blockdev-del", {{"node-name", qemu_id::diskNode(alias)}},
                      [this, guard, alias, leasedSource, target = dev.disk.targetDev,
                       finish](Result<nlohmann::json>) {
                          if (!guard.alive()) {
                              return;
                          }
                          releaseDiskFdsets(alias, [this, leasedSource, target, finish] {
                              m_leases->release(leasedSource);
                              releaseVolumeHold(target);
                              finish();
                          });
                      });
    });
}

} // namespace virtswarm::shim
