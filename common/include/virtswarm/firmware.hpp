// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// UEFI firmware for <os firmware='efi'>: QEMU's firmware descriptors (docs/interop/
// firmware.json), read as libvirt reads them, and the per-VM NVRAM variable store.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/result.hpp"

#include <string>
#include <vector>

namespace virtswarm {

struct FirmwareImage {
    std::string descriptor;            // the JSON file it was read from
    std::string code;                  // mapping.executable.filename
    std::string varsTemplate;          // mapping.nvram-template.filename
    std::vector<std::string> machines; // glob patterns for x86_64
    bool secureBoot = false;
    bool requiresSmm = false;
    bool enrolledKeys = false;
};

// The UEFI flash images for x86_64 described in `dirs` (by default /etc/qemu/firmware,
// then /usr/share/qemu/firmware; a file in an earlier directory hides one of the same
// name in a later one), in priority order: by file name, as QEMU's specification says.
// Unreadable or malformed descriptors are skipped.
std::vector<FirmwareImage> firmwareImages(const std::vector<std::string>& dirs = {
                                              "/etc/qemu/firmware", "/usr/share/qemu/firmware"});

// The first image that fits the machine type and the domain's wishes (secure boot,
// SMM). Error: NotSupported when none does.
Result<FirmwareImage> selectFirmware(const DomainDef& def,
                                     const std::vector<FirmwareImage>& images);

// Fills in what firmware='efi' leaves to the host: the loader from the descriptors, the
// NVRAM template, and the per-VM NVRAM file <nvramDir>/<name>_VARS.fd; turns SMM on when
// the firmware needs it. Nothing on disk changes. Errors as selectFirmware.
Result<void> resolveFirmware(DomainDef& def, const std::string& nvramDir,
                             const std::vector<FirmwareImage>& images);

// The NVRAM file a domain's firmware uses: its explicit <nvram>, or for UEFI without one
// the per-VM file <nvramDir>/<name>_VARS.fd; empty for a BIOS guest.
std::string nvramPathOf(const DomainDef& def, const std::string& nvramDir);

// Creates the NVRAM file from its template if it does not exist yet (a VM's variables
// are kept from one boot to the next). Error: OperationFailed.
Result<void> ensureNvram(const FirmwareDef& firmware);

// The XML with <os> showing the resolved <loader> and <nvram>: the live XML.
std::string withResolvedFirmware(const std::string& xml, const FirmwareDef& firmware);

} // namespace virtswarm
