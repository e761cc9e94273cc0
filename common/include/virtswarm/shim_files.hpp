// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

namespace virtswarm {

// The runtime directory of one running domain, shared by the registry (which creates it
// and writes domain.xml) and the shim (which owns everything else). It outlives both
// processes, which is what lets a new shim re-attach to a running QEMU.
struct ShimFiles {
    std::string dir;
    std::string domainXml; // the definition the domain was started with
    std::string qmpSocket; // QEMU's monitor, listening
    std::string qemuPid;
    std::string failure;  // why the shim gave up: "<D-Bus error name>\n<message>"
    std::string domainId; // the registry's runtime id, so a restarted registry keeps it
    std::string definer;  // who defined domain.xml (virtswarm/definer.hpp)
};

// The files of one domain's runtime dir.
inline ShimFiles shimFilesIn(const std::string& dir) {
    return ShimFiles{
        dir,         dir + "/domain.xml", dir + "/qmp.sock", dir + "/qemu.pid", dir + "/failure",
        dir + "/id", dir + "/definer"};
}

inline ShimFiles shimFiles(const std::string& hypervisorRuntimeDir, const std::string& uuidHex) {
    return shimFilesIn(hypervisorRuntimeDir + "/domains/" + uuidHex);
}

} // namespace virtswarm
