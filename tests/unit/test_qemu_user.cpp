// SPDX-License-Identifier: LGPL-2.1-or-later
// Whether QEMU's user may open a device (the capabilities' kvm domain type), from the
// mode bits, owner and groups, as the kernel decides for an unprivileged process.
#include "virtswarm/qemu_user.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace virtswarm;

namespace {

TEST(QemuUser, TheSystemUserIsTheEnvironmentsOrTheSwarms) {
    ::unsetenv("VIRTSWARM_QEMU_USER");
    EXPECT_EQ(systemQemuUserName(), "virtswarm-qemu");
    ::setenv("VIRTSWARM_QEMU_USER", "someone", 1);
    EXPECT_EQ(systemQemuUserName(), "someone");
    ::setenv("VIRTSWARM_QEMU_USER", "", 1);
    EXPECT_EQ(systemQemuUserName(), "virtswarm-qemu");
    ::unsetenv("VIRTSWARM_QEMU_USER");
}

TEST(QemuUser, ReadWriteAccessFollowsOwnerGroupAndOthers) {
    const passwd* nobody = ::getpwnam("nobody");
    if (::geteuid() != 0 || nobody == nullptr) {
        GTEST_SKIP() << "needs root (chown) and the user nobody";
    }
    char path[] = "/tmp/vs-qemu-user-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    ASSERT_EQ(::chown(path, 0, 0), 0);
    ::chmod(path, 0600); // /dev/kvm on a host without udev
    EXPECT_FALSE(userMayReadWrite("nobody", path));
    EXPECT_TRUE(userMayReadWrite("root", path));
    ::chmod(path, 0604); // read, not write
    EXPECT_FALSE(userMayReadWrite("nobody", path));
    ::chmod(path, 0606);
    EXPECT_TRUE(userMayReadWrite("nobody", path));
    ::chmod(path, 0660); // Debian's udev rule: root:kvm 0660, for the kvm group's members
    ASSERT_EQ(::chown(path, 0, nobody->pw_gid), 0);
    EXPECT_TRUE(userMayReadWrite("nobody", path));
    ASSERT_EQ(::chown(path, nobody->pw_uid, 0), 0);
    ::chmod(path, 0060); // the owner's own bits decide for the owner
    EXPECT_FALSE(userMayReadWrite("nobody", path));
    EXPECT_FALSE(userMayReadWrite("no-such-user-here", path));
    ::unlink(path);
    EXPECT_FALSE(userMayReadWrite("nobody", path));
}

} // namespace
