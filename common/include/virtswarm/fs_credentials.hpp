// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <functional>
#include <sys/types.h>
#include <vector>

namespace virtswarm {

// The file-system identity of a user: what the kernel checks when that user opens a path.
struct FsCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups; // supplementary groups, from the group database
};

// The credentials of `uid` (its passwd entry and getgrouplist). A uid without a passwd
// entry is AccessDenied: nothing says what it may reach.
Result<FsCredentials> credentialsOf(uid_t uid);

// Runs `action` (an open) with `who`'s file-system credentials and returns its result,
// the process's own credentials restored. setfsuid/setfsgid/setgroups change only the
// identity used for file access, and only the calling thread's (the groups are set by
// the raw system call: glibc's setgroups would change every thread of a process, such
// as the registry's storage thread), never the uid others see; switching fsuid away from
// 0 makes the kernel set aside DAC override for the duration. Needs CAP_SETUID and
// CAP_SETGID in the permitted set (see the shim's dropShimPrivileges for why it keeps
// them).
Result<int> asDefiner(const FsCredentials& who, const std::function<Result<int>()>& action);

} // namespace virtswarm
