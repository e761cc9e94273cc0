// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/fs_credentials.hpp"

#include <optional>
#include <string>

namespace virtswarm {

// Opens the host paths a user named: a definition's (images, serial files, ...) for QEMU
// in the shim, a save file in the registry. A definition reaches only what its definer
// could reach: for a definer other than root (when this process runs as root), every path
// is opened with the definer's file-system credentials, so polkit's "save" or "start"
// grants nothing the user could not already open. Refusals are AccessDenied naming the
// path.
class HostPathOpener {
public:
    // Opens with the shim's own rights: root's definitions, and session mode (where the
    // shim is the user already).
    HostPathOpener() = default;
    // For the definition of `definer`, opened by this process.
    static Result<HostPathOpener> forDefiner(uid_t definer);

    // A disk image or cdrom, with `accessMode` O_RDONLY or O_RDWR. Follows symbolic
    // links (images often live behind them); access is the definer's.
    Result<int> openImage(const std::string& path, int accessMode, const std::string& what) const;
    // A file the shim creates or truncates (serial logs). Never through a symbolic link,
    // and never a file of someone else: it must be a regular file owned by the definer
    // (the shim's own uid for root's definitions), or it is refused untouched.
    // With `append`, the file is kept and written at its end instead of truncated.
    Result<int> openOutput(const std::string& path, const std::string& what,
                           bool append = false) const;
    // A regular file (a save image) with `accessMode` O_RDONLY or O_RDWR; anything else
    // (a FIFO, a device) is refused without blocking on it.
    Result<int> openRegularFile(const std::string& path, int accessMode,
                                const std::string& what) const;
    // A file QEMU itself opens by path (kernel, initrd): the definer must be able to
    // read it.
    Result<void> checkReadable(const std::string& path, const std::string& what) const;

    // The emulator the shim executes (as QEMU's user, which every domain's QEMU shares).
    // For a definer other than root it must be one root installed: a regular file owned
    // by root that neither group nor others may write, and that the definer may run;
    // otherwise a user could run their own program as QEMU's user, next to other VMs.
    Result<void> checkEmulator(const std::string& path) const;

    // Runs `action` (file work the definer asked for, such as creating a file at a path
    // they named) with the definer's rights; `what` names it in errors.
    Result<void> withRights(const std::string& what,
                            const std::function<Result<void>()>& action) const;

    // Whether opening takes another identity; the shim must then keep the capabilities
    // that switching needs (dropShimPrivileges).
    bool switchesCredentials() const { return m_definer.has_value(); }

private:
    // Runs `open` with the definer's credentials (if any); `path` names failures to switch.
    Result<int> asOwner(const std::string& path, const std::function<Result<int>()>& open) const;
    uid_t owner() const;
    std::string who() const;

    std::optional<FsCredentials> m_definer;
};

} // namespace virtswarm
