// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

namespace virtswarm::hypervisor {

// libvirt-style <capabilities> of this host: what virt-install and virsh read to learn
// the architecture, the emulator and which domain types (qemu, kvm) can run.
std::string hostCapabilitiesXml();

} // namespace virtswarm::hypervisor
