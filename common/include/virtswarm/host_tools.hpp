// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Helper programs more than one daemon runs (Debian's paths; no daemon searches $PATH).
namespace virtswarm::host_tools {

inline constexpr const char* kQemuImg = "/usr/bin/qemu-img";

} // namespace virtswarm::host_tools
