// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/fs_credentials.hpp"

#include "virtswarm/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace virtswarm {
namespace {

struct CapabilitySets {
    __user_cap_data_struct data[2]{};
};

bool readCapabilities(CapabilitySets& sets) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capget, &header, sets.data) == 0;
}

bool writeCapabilities(CapabilitySets& sets) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capset, &header, sets.data) == 0;
}

// setfsuid/setfsgid report no error; a second call returns the value now in force.
bool switchFsUid(uid_t uid) {
    setfsuid(uid);
    return static_cast<uid_t>(setfsuid(uid)) == uid;
}

bool switchFsGid(gid_t gid) {
    setfsgid(gid);
    return static_cast<gid_t>(setfsgid(gid)) == gid;
}

// This thread's supplementary groups only (see asDefiner).
int setThreadGroups(const std::vector<gid_t>& groups) {
    return static_cast<int>(syscall(SYS_setgroups, groups.size(), groups.data()));
}

} // namespace

Result<FsCredentials> credentialsOf(uid_t uid) {
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
    passwd entry{};
    passwd* found = nullptr;
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
        return Error(Code::AccessDenied, "the definer, uid " + std::to_string(uid) +
                                             ", has no user entry: its rights are unknown");
    }
    FsCredentials credentials{uid, entry.pw_gid, {}};
    int count = 64;
    for (;;) {
        credentials.groups.resize(static_cast<size_t>(count));
        int capacity = count;
        if (getgrouplist(entry.pw_name, entry.pw_gid, credentials.groups.data(), &count) >= 0) {
            credentials.groups.resize(static_cast<size_t>(count));
            return credentials;
        }
        if (count <= capacity) { // no growth requested: a failure, not a short buffer
            return Error(Code::AccessDenied,
                         "cannot read the groups of uid " + std::to_string(uid));
        }
    }
}

Result<int> asDefiner(const FsCredentials& who, const std::function<Result<int>()>& action) {
    CapabilitySets saved;
    if (!readCapabilities(saved)) {
        return Error(Code::Internal, std::string("capget: ") + std::strerror(errno));
    }
    CapabilitySets raised = saved;
    for (unsigned cap : {CAP_SETUID, CAP_SETGID}) {
        raised.data[cap / 32].effective |= raised.data[cap / 32].permitted & (1U << (cap % 32));
    }
    (void)writeCapabilities(raised);
    std::vector<gid_t> ownGroups(static_cast<size_t>(std::max(getgroups(0, nullptr), 0)));
    if (getgroups(static_cast<int>(ownGroups.size()), ownGroups.data()) < 0) {
        ownGroups.clear();
    }
    auto restore = [&] {
        // Back to root's fsuid first: it also gives back the DAC capabilities.
        bool ok = switchFsUid(0) && switchFsGid(0) && setThreadGroups(ownGroups) == 0;
        if (!ok) {
            // A process left with a user's identity can do less, not more: carry on.
            log::error("cannot restore this process's own file-system credentials");
        }
        (void)writeCapabilities(saved);
    };
    if (setThreadGroups(who.groups) < 0 || !switchFsGid(who.gid) || !switchFsUid(who.uid)) {
        int error = errno;
        restore();
        return Error(Code::Internal, "cannot take the file-system credentials of uid " +
                                         std::to_string(who.uid) + ": " + std::strerror(error));
    }
    Result<int> result = action();
    restore();
    return result;
}

} // namespace virtswarm
