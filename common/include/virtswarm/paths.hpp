// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>

namespace virtswarm {

enum class BusMode { System, Session };

const char* busModeName(BusMode mode);

// Where one daemon keeps its files (DESIGN.md §4). System mode:
// /etc/virtswarm/<daemon>, /run/virtswarm/<daemon>, /var/lib/virtswarm/<daemon>,
// /var/log/virtswarm/<daemon>; session mode: the XDG equivalents. The environment
// variables VIRTSWARM_{CONFIG,RUNTIME,STATE,LOG}_DIR replace the base directory (tests
// run whole swarms in a temporary root this way).
struct DaemonPaths {
    std::string configDir;
    std::string runtimeDir;
    std::string stateDir;
    std::string logDir;
};

DaemonPaths daemonPaths(const std::string& daemon, BusMode mode);

// Creates all four directories (0700 in session mode, 0755 in system mode).
Result<void> createDaemonPaths(const DaemonPaths& paths, BusMode mode);

} // namespace virtswarm
