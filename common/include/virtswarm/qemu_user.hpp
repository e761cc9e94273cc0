// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

// The user a system swarm's QEMU runs as: VIRTSWARM_QEMU_USER, else "virtswarm-qemu"
// (created at install, docs/security.md). A session swarm's QEMU is the session's user.
namespace virtswarm {

std::string systemQemuUserName();

// Whether `user` may open `path` for reading and writing, from its mode bits, owner and
// group (the user's supplementary groups included), as the kernel would decide for an
// unprivileged process. False for a user or a path that does not exist.
bool userMayReadWrite(const std::string& user, const std::string& path);

} // namespace virtswarm
