// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/qemu_user.hpp"

#include <algorithm>
#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <vector>

namespace virtswarm {

std::string systemQemuUserName() {
    const char* env = std::getenv("VIRTSWARM_QEMU_USER");
    return env != nullptr && env[0] != '\0' ? env : "virtswarm-qemu";
}

bool userMayReadWrite(const std::string& user, const std::string& path) {
    const passwd* pw = ::getpwnam(user.c_str());
    struct stat st {};
    if (pw == nullptr || ::stat(path.c_str(), &st) != 0) {
        return false;
    }
    if (pw->pw_uid == 0) {
        return true;
    }
    auto allows = [&](mode_t bits) { return (st.st_mode & bits) == bits; };
    if (st.st_uid == pw->pw_uid) {
        return allows(S_IRUSR | S_IWUSR);
    }
    int count = 64;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    if (::getgrouplist(user.c_str(), pw->pw_gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<size_t>(count));
        ::getgrouplist(user.c_str(), pw->pw_gid, groups.data(), &count);
    }
    groups.resize(static_cast<size_t>(std::max(count, 0)));
    if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
        return allows(S_IRGRP | S_IWGRP);
    }
    return allows(S_IROTH | S_IWOTH);
}

} // namespace virtswarm
