// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

namespace virtswarm {

// The runtime directory of one running domain. It outlives both the registry and the shim,
// which is what lets a new shim re-attach to a running QEMU. Every file has one writer:
// the registry creates the dir and writes what a start needs (the definition and who
// defined it, the runtime id); the shim writes everything about the running VM and only
// reads the registry's files.
struct ShimFiles {
    std::string dir;
    // Written by the registry before it starts the shim; read-only to the shim.
    std::string domainXml; // the definition the domain was started with
    std::string definer;   // who defined domain.xml (virtswarm/definer.hpp)
    std::string domainId;  // the registry's runtime id, so a restarted registry keeps it
    // Written by the shim.
    std::string liveXml;   // the running definition (aliases, hotplugged devices)
    std::string state;     // the last reported "<state>\n<reason>\n", for a re-attaching shim
    std::string qmpSocket; // QEMU's monitor, listening
    std::string qemuPid;
    std::string failure; // why the shim gave up: "<D-Bus error name>\n<message>"
};

// The files of one domain's runtime dir.
inline ShimFiles shimFilesIn(const std::string& dir) {
    return ShimFiles{dir,
                     dir + "/domain.xml",
                     dir + "/definer",
                     dir + "/id",
                     dir + "/live.xml",
                     dir + "/state",
                     dir + "/qmp.sock",
                     dir + "/qemu.pid",
                     dir + "/failure"};
}

inline ShimFiles shimFiles(const std::string& hypervisorRuntimeDir, const std::string& uuidHex) {
    return shimFilesIn(hypervisorRuntimeDir + "/domains/" + uuidHex);
}

} // namespace virtswarm
