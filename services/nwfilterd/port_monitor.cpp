// SPDX-License-Identifier: LGPL-2.1-or-later
#include "port_monitor.hpp"

#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace virtswarm::nwfilter {
namespace {

// rtnetlink's layout by hand: the <linux/netlink.h> macros are C casts.
constexpr size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
}

// The device's ifindex and IFLA_IFNAME of an RTM_DELLINK message of `length` bytes (its
// header included); false for other messages.
bool removedLink(const char* message, size_t length, int& ifindex, std::string& name) {
    nlmsghdr header;
    std::memcpy(&header, message, sizeof header);
    size_t infoAt = align4(sizeof(nlmsghdr));
    if (header.nlmsg_type != RTM_DELLINK || length < infoAt + sizeof(ifinfomsg)) {
        return false;
    }
    ifinfomsg info;
    std::memcpy(&info, message + infoAt, sizeof info);
    ifindex = info.ifi_index;
    name.clear();
    for (size_t at = infoAt + align4(sizeof(ifinfomsg)); at + sizeof(rtattr) <= length;) {
        rtattr attr;
        std::memcpy(&attr, message + at, sizeof attr);
        if (attr.rta_len < sizeof(rtattr) || at + attr.rta_len > length) {
            break;
        }
        if (attr.rta_type == IFLA_IFNAME) {
            const char* text = message + at + align4(sizeof(rtattr));
            name.assign(text, strnlen(text, attr.rta_len - align4(sizeof(rtattr))));
        }
        at += align4(attr.rta_len);
    }
    return true;
}

} // namespace

int portIndex(const std::string& name) {
    return static_cast<int>(if_nametoindex(name.c_str()));
}

PortMonitor::PortMonitor(EventLoop& loop, std::function<void(int, const std::string&)> removed,
                         std::function<void()> lost)
    : m_removed(std::move(removed))
    , m_lost(std::move(lost)) {
    m_fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK;
    if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        log::error(std::string("cannot follow network devices: ") + std::strerror(errno) +
                   "; bindings stay until deleted");
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
        return;
    }
    m_io = loop.addIo(m_fd, EPOLLIN, [this](uint32_t) { drain(); });
}

PortMonitor::~PortMonitor() {
    m_io.reset();
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

void PortMonitor::drain() {
    if (m_fd < 0) {
        return;
    }
    char buffer[16384];
    for (;;) {
        ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n < 0) {
            if (errno == ENOBUFS) {
                m_lost(); // notifications were dropped: what is gone is found by looking
                continue;
            }
            if (errno != EINTR) {
                return; // EAGAIN: nothing more queued
            }
            continue;
        }
        if (n == 0) {
            return;
        }
        for (size_t at = 0; at + sizeof(nlmsghdr) <= static_cast<size_t>(n);) {
            nlmsghdr header;
            std::memcpy(&header, buffer + at, sizeof header);
            if (header.nlmsg_len < sizeof(nlmsghdr) ||
                at + header.nlmsg_len > static_cast<size_t>(n)) {
                break;
            }
            int ifindex = 0;
            std::string name;
            if (removedLink(buffer + at, header.nlmsg_len, ifindex, name)) {
                m_removed(ifindex, name);
            }
            at += align4(header.nlmsg_len);
        }
    }
}

} // namespace virtswarm::nwfilter
