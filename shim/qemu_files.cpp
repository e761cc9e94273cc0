// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_files.hpp"

#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/image_chain.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/qemu_user.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace virtswarm::shim {

Result<QemuIdentity> qemuIdentity(bool systemMode) {
    if (!systemMode) {
        return QemuIdentity{};
    }
    std::string user = systemQemuUserName();
    const passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) {
        return Error(Code::OperationFailed,
                     "the QEMU user '" + user +
                         "' does not exist; it is created at install (see docs/security.md)");
    }
    if (pw->pw_uid == 0) {
        log::warning("QEMU runs as root: VIRTSWARM_QEMU_USER names a privileged user");
    }
    return QemuIdentity{pw->pw_uid, pw->pw_gid, user};
}

namespace {

// The backing chain under `disk`'s image (`imageFd`, read-only), each layer opened as the
// definer and put read-only in an fd set of its own by `addInNewSet` (one set for a layer
// several disks share), and recorded in launch.backingChains.
Result<void> addBackingChain(const HostPathOpener& opener, const DiskDef& disk, int imageFd,
                             const std::string& what, QemuLaunch& launch,
                             const std::function<int(int fd)>& addInNewSet) {
    auto chain = openBackingChain(opener, disk.source, disk.format, imageFd, what);
    if (!chain) {
        return chain.takeError();
    }
    auto& backing = launch.backingChains[disk.source];
    for (const BackingLayer& layer : chain.value()) {
        backing.push_back({layer.path, layer.format});
        if (launch.pathToFdset.count(layer.path) > 0) {
            ::close(layer.fd); // a base two disks share: one fd set
            continue;
        }
        launch.pathToFdset[layer.path] = addInNewSet(layer.fd);
    }
    // A layer that is also another disk's image has the rest of this chain below it.
    for (size_t i = 0; i + 1 < backing.size(); ++i) {
        launch.backingChains.emplace(backing[i].path,
                                     std::vector(backing.begin() + i + 1, backing.end()));
    }
    if (backing.empty()) {
        launch.backingChains.erase(disk.source);
    }
    return success();
}

} // namespace

QemuFiles::~QemuFiles() {
    for (auto [fd, childFd] : m_passFds) {
        ::close(fd);
    }
}

Result<QemuFiles> QemuFiles::open(const DomainDef& def, QemuLaunch& launch, int firstChildFd,
                                  const HostPathOpener& opener, VolumeFds* volumes,
                                  std::map<std::string, int>* pipedOutputs) {
    QemuFiles files;
    int nextChildFd = firstChildFd;
    int nextSet = 1;
    auto addFd = [&](int fd, int set) {
        files.m_passFds.emplace_back(fd, nextChildFd);
        launch.addFds.emplace_back(nextChildFd, set);
        ++nextChildFd;
    };
    auto addInNewSet = [&](int fd) {
        int set = nextSet++;
        addFd(fd, set);
        return set;
    };
    // QEMU reopens images with the access mode it needs (read-only probing, read-write
    // use), and picks an fd of the matching mode from the set: give it both.
    for (const auto& disk : def.disks) {
        if (disk.source.empty() || launch.pathToFdset.count(disk.source) > 0) {
            continue;
        }
        int set = nextSet++;
        std::string what = disk.device + " " + disk.targetDev;
        if (disk.isVolume()) {
            auto opened = volumes != nullptr ? volumes->find(disk.source) : VolumeFds::iterator();
            if (volumes == nullptr || opened == volumes->end()) {
                return Error(Code::Internal, what + ": its volume was not opened");
            }
            for (int fd : opened->second) {
                addFd(fd, set);
            }
            int topFd = opened->second.back(); // any of them reads the header
            volumes->erase(opened);
            launch.pathToFdset[disk.source] = set;
            // storaged hands out the top image only: the layers under it are opened as the
            // definer, as for a file disk.
            if (auto chain = addBackingChain(opener, disk, topFd, what, launch, addInNewSet);
                !chain) {
                return chain.takeError();
            }
            continue;
        }
        std::vector<int> modes =
            disk.readonly ? std::vector<int>{O_RDONLY} : std::vector<int>{O_RDWR, O_RDONLY};
        int readOnlyFd = -1;
        for (int mode : modes) {
            auto fd = opener.openImage(disk.source, mode, what);
            if (!fd) {
                return fd.takeError();
            }
            addFd(fd.value(), set);
            readOnlyFd = fd.value();
        }
        launch.pathToFdset[disk.source] = set;
        if (auto chain = addBackingChain(opener, disk, readOnlyFd, what, launch, addInNewSet);
            !chain) {
            return chain.takeError();
        }
    }
    // UEFI: the firmware code read-only, the VM's own variable store read-write. Paths
    // the definer named are opened with the definer's rights; the per-VM NVRAM in the
    // swarm's state dir is the swarm's own file.
    if (const FirmwareDef& fw = def.platform.firmware; fw.efi) {
        static const HostPathOpener ownRights;
        struct FlashFile {
            std::string path;
            std::vector<int> modes;
            const char* what;
            const HostPathOpener& by;
        };
        for (const auto& flash : {FlashFile{fw.loader, {O_RDONLY}, "firmware", opener},
                                  FlashFile{fw.nvram,
                                            {O_RDWR, O_RDONLY},
                                            "NVRAM",
                                            fw.nvramInStateDir ? ownRights : opener}}) {
            if (flash.path.empty() || launch.pathToFdset.count(flash.path) > 0) {
                continue;
            }
            int set = nextSet++;
            for (int mode : flash.modes) {
                auto fd = flash.by.openImage(flash.path, mode, flash.what);
                if (!fd) {
                    return fd.takeError();
                }
                addFd(fd.value(), set);
            }
            launch.pathToFdset[flash.path] = set;
        }
    }
    // Serial output files and <log> files: created with the rules of HostPathOpener.
    auto addOutput = [&](const std::string& path, bool append,
                         const std::string& what) -> Result<void> {
        if (path.empty() || launch.pathToFdset.count(path) > 0) {
            return success();
        }
        if (pipedOutputs != nullptr && pipedOutputs->count(path) > 0) {
            int set = nextSet++;
            addFd(pipedOutputs->at(path), set);
            pipedOutputs->erase(path);
            launch.pathToFdset[path] = set;
            launch.pipedOutputs.insert(path);
            return success();
        }
        auto fd = opener.openOutput(path, what, append);
        if (!fd) {
            return fd.takeError();
        }
        int set = nextSet++;
        addFd(fd.value(), set);
        launch.pathToFdset[path] = set;
        return success();
    };
    for (size_t i = 0; i < def.serials.size(); ++i) {
        const auto& serial = def.serials[i];
        std::string name = qemu_id::serial(i);
        if (serial.type == "file") {
            if (auto r = addOutput(serial.path, false, name + " log"); !r) {
                return r.takeError();
            }
        }
        if (auto r = addOutput(serial.logFile, serial.logAppend, name + " <log>"); !r) {
            return r.takeError();
        }
    }
    if (auto r = opener.checkEmulator(def.emulator.empty() ? kDefaultEmulator : def.emulator); !r) {
        return r.takeError();
    }
    // QEMU opens these itself, as its own user; the definer must be able to read them
    // too, or QEMU would read for them what they cannot.
    for (const auto& [path, what] : std::vector<std::pair<std::string, std::string>>{
             {def.kernel, "kernel"}, {def.initrd, "initrd"}}) {
        if (!path.empty()) {
            if (auto r = opener.checkReadable(path, what); !r) {
                return r.takeError();
            }
        }
    }
    return files;
}

void dropShimPrivileges(bool keepFsSwitch) {
    if (geteuid() != 0) {
        return;
    }
    // Kept: open any image or log (DAC_OVERRIDE, DAC_READ_SEARCH), signal QEMU running as
    // another user (KILL). Everything else — mounts, raw I/O, modules — is gone.
    //
    // For a definition whose definer is not root, hotplug later opens images with the
    // definer's credentials (setfsuid/setfsgid/setgroups): CAP_SETUID and CAP_SETGID stay
    // in the permitted set, raised into the effective set only around each open
    // (asDefiner). Why not a helper process forked before the drop instead? It would hold
    // the same capabilities, or run as the definer for good, and add a second process
    // and a protocol to every open; a shim that already holds DAC override and root's
    // uid gains no file it could not open from CAP_SETUID, and no_new_privs and the
    // bounding set still keep it from gaining anything through exec.
    std::vector<unsigned> keep = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_KILL};
    std::vector<unsigned> permittedOnly;
    if (keepFsSwitch) {
        permittedOnly = {CAP_SETUID, CAP_SETGID};
    }
    unsigned long lastCap = CAP_LAST_CAP;
    if (auto text = readFile("/proc/sys/kernel/cap_last_cap", 32)) {
        lastCap = std::strtoul(text.value().c_str(), nullptr, 10);
    }
    auto kept = [&](unsigned long cap) {
        for (const auto* list : {&keep, &permittedOnly}) {
            for (unsigned k : *list) {
                if (k == cap) {
                    return true;
                }
            }
        }
        return false;
    };
    for (unsigned long cap = 0; cap <= lastCap; ++cap) {
        if (!kept(cap)) {
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
    }
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (unsigned k : keep) {
        data[k / 32].effective |= 1U << (k % 32);
        data[k / 32].permitted |= 1U << (k % 32);
    }
    for (unsigned k : permittedOnly) {
        data[k / 32].permitted |= 1U << (k % 32);
    }
    if (syscall(SYS_capset, &header, data) < 0) {
        log::warning(std::string("cannot drop capabilities: ") + std::strerror(errno));
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

} // namespace virtswarm::shim
