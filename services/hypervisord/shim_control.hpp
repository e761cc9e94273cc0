// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace virtswarm::hypervisor {

// How a shim is to begin.
struct ShimLaunch {
    bool attach = false; // take over a QEMU that is still running
    int restoreFd = -1;  // >= 0: start QEMU from this saved state (the caller keeps the fd)
    bool paused = false; // leave the guest's vCPUs stopped once QEMU is up
    std::string loadSnapshot = {}; // non-empty: start from this internal snapshot
};

// What a domain's model asks of the shims: launch one, know whether one (or its QEMU) is
// still there, call it, clean up after it. ShimSupervisor does it on the bus; the unit
// tests drive the model with a fake.
class ShimControl {
public:
    virtual ~ShimControl() = default;

    // Spawns the domain's shim.
    virtual Result<void> launch(const std::string& uuidHex, const DomainXml& domain,
                                ShimLaunch how) = 0;
    // Is a shim for this domain still on the bus (e.g. one that is just exiting)?
    virtual bool present(const std::string& uuidHex) const = 0;
    // Is a QEMU still running for this domain (after its shim died)?
    virtual bool qemuAlive(const std::string& uuidHex) const = 0;
    // Kills the domain's QEMU when no shim is left to do it; `gone` runs once it exited.
    virtual Result<void> killQemu(const std::string& uuidHex, std::function<void()> gone) = 0;
    // Removes the domain's runtime dir, unless a shim or a QEMU may still use it.
    virtual void removeRuntimeDir(const std::string& uuidHex) = 0;
    // An async call of a shim method without arguments or reply value.
    virtual void callMethod(const std::string& uuidHex, const std::string& method,
                            std::chrono::milliseconds timeout,
                            std::function<void(Result<void>)> done) = 0;
    // What the shim wrote before giving up (its "failure" file), if anything.
    virtual std::optional<Error> readFailure(const std::string& uuidHex) const = 0;
};

} // namespace virtswarm::hypervisor
