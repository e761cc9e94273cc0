// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/tpm_state.hpp"

#include <filesystem>

namespace virtswarm {

std::string tpmStateDir(BusMode mode, const UuidBytes& uuid) {
    return daemonPaths("swtpm", mode).stateDir + "/" + formatUuid(uuid);
}

Result<void> removeTpmState(BusMode mode, const UuidBytes& uuid) {
    std::error_code ec;
    std::filesystem::remove_all(tpmStateDir(mode, uuid), ec);
    if (ec) {
        return Error(Code::OperationFailed, "cannot remove the TPM state " +
                                                tpmStateDir(mode, uuid) + ": " + ec.message());
    }
    return success();
}

} // namespace virtswarm
