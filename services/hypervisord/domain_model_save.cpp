// SPDX-License-Identifier: LGPL-2.1-or-later
// The managed save image of a domain: its place, and its use by the next start. The
// registry opens the image and hands the shim a descriptor, so neither the shim nor QEMU
// needs any right on the save directory.
#include "domain_model.hpp"
#include "save_image.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>

namespace virtswarm::hypervisor {

std::string DomainModel::managedSavePath() const {
    return m_config.saveDir + "/" + uuidHex() + ".save";
}

bool DomainModel::hasManagedSave() const {
    std::error_code ec;
    return std::filesystem::exists(managedSavePath(), ec);
}

Result<void> DomainModel::removeManagedSave() {
    if (!hasManagedSave()) {
        return success();
    }
    if (auto r = removeFileDurable(managedSavePath()); !r) {
        return r;
    }
    m_host.propertiesChanged({"HasManagedSave"});
    return success();
}

int DomainModel::openManagedSaveForRestore() {
    if (!hasManagedSave()) {
        return -1;
    }
    int fd = ::open(managedSavePath().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        log::error("cannot open the managed save image of '" + m_domain.def.name +
                   "': " + std::strerror(errno) + "; booting afresh");
        return -1;
    }
    if (auto r = useSavedDefinition(fd); !r) {
        log::error("the managed save image of '" + m_domain.def.name +
                   "' cannot be restored: " + r.error().message() + "; booting afresh");
        ::close(fd);
        return -1;
    }
    log::info("restoring '" + m_domain.def.name + "' from its managed save image");
    m_restoring = true;
    return fd;
}

Result<void> DomainModel::useSavedDefinition(int fd) {
    // An image saved before managed saves carried libvirt's header is QEMU's stream from
    // the first byte, restored with the domain's own definition.
    if (!hasSaveImageHeader(fd)) {
        return success();
    }
    auto image = readSaveImage(fd);
    if (!image) {
        return image.takeError();
    }
    auto saved = parseDomainXml(image.value().xml);
    if (!saved) {
        return saved.takeError().prefix("its definition");
    }
    if (saved.value().def.uuid != m_domain.def.uuid) {
        return Error(Code::InvalidState, "it holds another domain");
    }
    // As libvirt: the guest comes back with the definition it ran with (this run only),
    // and paused if it was saved paused.
    saved.value().definer = m_domain.definer;
    swapInForOneRun(std::move(saved).value());
    m_startOptions.paused = m_startOptions.paused || !image.value().wasRunning;
    return success();
}

void DomainModel::restoreFinished(bool running) {
    if (!m_restoring) {
        return;
    }
    m_restoring = false;
    // A restored guest has moved on from the image: starting from it again would roll the
    // guest back. An image that failed to load stays, for ManagedSaveRemove or a retry.
    if (running) {
        if (auto r = removeManagedSave(); !r) {
            log::error("cannot remove the managed save image of '" + m_domain.def.name +
                       "': " + r.error().message());
        }
    }
}

} // namespace virtswarm::hypervisor
