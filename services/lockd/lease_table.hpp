// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace virtswarm::lock {

enum class LeaseMode { Exclusive, Shared };

const char* leaseModeName(LeaseMode mode);

// One disk asked for: the file's identity (fileKey), how the caller names it, the mode.
struct LeaseRequest {
    std::string key;
    std::string path;
    LeaseMode mode;
};

struct Lease {
    std::string path;
    LeaseMode mode;
};

// The process whose end (with its holder's) releases a domain's leases: its QEMU. The
// start time tells it from a later process that reuses the pid.
struct HeldProcess {
    pid_t pid = 0;
    uint64_t startTime = 0;
};

// The leases of one domain and who holds them.
struct Owner {
    std::string holder; // the unique bus name that acquired them last
    uid_t uid = 0;      // the holder's uid
    HeldProcess process;
    std::map<std::string, Lease> leases; // by file key
    // Runtime only: the holder has left the bus (the bus driver said so, or a check after a
    // restart of lockd found its name without owner).
    bool holderGone = false;
};

// Every lease of the host, by domain. Pure bookkeeping: no bus, no files, no clock, so the
// rules are unit-tested alone. Each change is all or nothing.
class LeaseTable {
public:
    // Bounds on what callers can make lockd keep.
    // (The bus bounds the descriptors one message carries; a domain with more disks than
    // this is refused with LimitsExceeded.)
    static constexpr size_t kMaxDisksPerCall = 64;
    static constexpr size_t kMaxLeases = 16384;

    // Leases for `domain` on every request, held by `holder` (uid `uid`) from now on.
    // ResourceBusy when another domain holds one of the files in a conflicting mode, or
    // when another connection still holds this domain; nothing changes then.
    Result<void> acquire(const std::string& domain, const std::string& holder, uid_t uid,
                         const std::vector<LeaseRequest>& requests);
    // Releases the leases on `paths` (all with an empty list) if `caller` may: the holder,
    // or root. A domain left with no lease is forgotten.
    Result<void> release(const std::string& domain, const std::string& caller, uid_t uid,
                         const std::vector<std::string>& paths);
    Result<void> setProcess(const std::string& domain, const std::string& caller,
                            HeldProcess process);
    // Drops the domain's leases (its holder and its process are gone).
    void drop(const std::string& domain);

    Owner* find(const std::string& domain);
    const std::map<std::string, Owner>& owners() const { return m_owners; }
    size_t leaseCount() const;

    // The persisted form (JSON) and back; the runtime-only flags are not kept.
    std::string serialize() const;
    static Result<LeaseTable> parse(const std::string& text);

private:
    // The domain (other than `domain`) holding `key` in a mode that conflicts with `mode`.
    const std::string* conflictingDomain(const std::string& domain, const std::string& key,
                                         LeaseMode mode) const;

    std::map<std::string, Owner> m_owners; // by domain UUID (dashed)
};

} // namespace virtswarm::lock
