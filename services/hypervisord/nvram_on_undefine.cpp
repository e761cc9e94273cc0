// SPDX-License-Identifier: LGPL-2.1-or-later
#include "nvram_on_undefine.hpp"

#include "virtswarm/firmware.hpp"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::hypervisor {

Result<NvramOnUndefine> nvramOnUndefine(bool remove, bool keep) {
    if (remove && keep) {
        return Error(Code::InvalidState, "cannot both keep and delete nvram");
    }
    return remove ? NvramOnUndefine::Remove : keep ? NvramOnUndefine::Keep : NvramOnUndefine::Ask;
}

Result<void> settleNvram(const DomainXml& domain, BusMode mode, NvramOnUndefine what) {
    std::string nvramDir = daemonPaths("nvram", mode).stateDir;
    std::string path = nvramPathOf(domain.def, nvramDir);
    struct stat st {};
    // lstat: a symbolic link named as the NVRAM is what would be unlinked, not its target.
    if (path.empty() || ::lstat(path.c_str(), &st) != 0 || what == NvramOnUndefine::Keep) {
        return success();
    }
    if (what == NvramOnUndefine::Ask) {
        return Error(Code::InvalidState, "cannot undefine domain with nvram " + path +
                                             " (remove it with option nvram, or keep-nvram)");
    }
    bool ownFile = domain.def.platform.firmware.nvram.empty();
    if (!ownFile && domain.definer != 0 && (!S_ISREG(st.st_mode) || st.st_uid != domain.definer)) {
        return Error(Code::AccessDenied,
                     "the nvram " + path + " is not a regular file of the domain's definer");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return Error(Code::OperationFailed,
                     "failed to remove nvram " + path + ": " + std::strerror(errno));
    }
    return success();
}

} // namespace virtswarm::hypervisor
