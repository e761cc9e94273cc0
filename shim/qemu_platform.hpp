// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The QEMU options for the machine around the devices: -machine, -cpu, -rtc, firmware,
// power management and the lifecycle actions (see virtswarm/domain_platform.hpp).
#include "qemu_command.hpp"

#include <string>
#include <vector>

namespace virtswarm::shim {

// "-machine" and its properties: type, acpi, vmport, smm, hpet.
std::string qemuMachineOption(const DomainDef& def);

// -cpu, -rtc, -global (pm, secure flash), -drive if=pflash / -bios, -no-reboot, -action.
void addPlatformArgs(const DomainDef& def, const QemuLaunch& launch,
                     std::vector<std::string>& argv);

} // namespace virtswarm::shim
