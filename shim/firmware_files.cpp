// SPDX-License-Identifier: LGPL-2.1-or-later
#include "firmware_files.hpp"

#include "virtswarm/firmware.hpp"

namespace virtswarm::shim {

Result<void> prepareFirmwareFor(DomainXml& domain, const std::string& nvramDir,
                                const HostPathOpener& opener) {
    FirmwareDef& firmware = domain.def.platform.firmware;
    if (!firmware.efi) {
        return success();
    }
    if (auto r = resolveFirmware(domain.def, nvramDir, firmwareImages()); !r) {
        return r;
    }
    if (!firmware.nvramTemplate.empty()) {
        if (auto r = opener.checkReadable(firmware.nvramTemplate, "NVRAM template"); !r) {
            return r;
        }
    }
    auto create = [&firmware] { return ensureNvram(firmware); };
    if (auto r = firmware.nvramInStateDir ? create() : opener.withRights(firmware.nvram, create);
        !r) {
        return r;
    }
    domain.xml = withResolvedFirmware(domain.xml, firmware);
    return success();
}

} // namespace virtswarm::shim
