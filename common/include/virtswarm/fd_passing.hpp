// SPDX-License-Identifier: LGPL-2.1-or-later
// File descriptors across a UNIX socket (SCM_RIGHTS): the QMP monitor's getfd, and the
// libvirt protocol's *_WITH_FDS messages.
#pragma once

#include <cstddef>
#include <sys/types.h>
#include <vector>

namespace virtswarm {

// sendmsg of `size` bytes at `data` with `fd` attached (none if fd < 0), EINTR retried:
// the bytes sent, or -1 with errno set.
ssize_t sendWithFd(int socket, const void* data, size_t size, int fd, int flags);

// What recvWithFds read.
struct ReceivedFds {
    std::vector<int> fds;   // close-on-exec, the caller's to close
    bool truncated = false; // more came than maxFds: those were closed by the kernel
};

// recvmsg into `buffer`, EINTR retried, keeping the descriptors that came with the bytes
// (at most `maxFds` of them): the bytes read (0: end of file), or -1 with errno set. A read
// never has to drop a descriptor, which plain read() or recv() would.
ssize_t recvWithFds(int socket, void* buffer, size_t size, size_t maxFds, int flags,
                    ReceivedFds& received);

} // namespace virtswarm
