// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/fd_passing.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace virtswarm {

ssize_t sendWithFd(int socket, const void* data, size_t size, int fd, int flags) {
    iovec iov{const_cast<void*>(data), size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* header = CMSG_FIRSTHDR(&msg);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
    }
    ssize_t n = -1;
    do {
        n = ::sendmsg(socket, &msg, flags);
    } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t recvWithFds(int socket, void* buffer, size_t size, size_t maxFds, int flags,
                    ReceivedFds& received) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * maxFds));
    iovec iov{buffer, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t n = -1;
    do {
        n = ::recvmsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return n;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            received.fds.push_back(fd);
        }
    }
    received.truncated = received.truncated || (msg.msg_flags & MSG_CTRUNC) != 0;
    return n;
}

} // namespace virtswarm
