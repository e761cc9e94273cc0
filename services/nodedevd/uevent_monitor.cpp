// SPDX-License-Identifier: LGPL-2.1-or-later
#include "uevent_monitor.hpp"

#include "virtswarm/log.hpp"

#include <libudev.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace virtswarm::nodedev {

UeventMonitor::UeventMonitor(EventLoop& loop, std::function<void()> changed)
    : m_udev(udev_new())
    , m_changed(std::move(changed)) {
    if (m_udev == nullptr) {
        return;
    }
    // udevd announces itself with its control socket.
    const char* source = ::access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
    m_monitor = udev_monitor_new_from_netlink(m_udev, source);
    if (m_monitor == nullptr || udev_monitor_enable_receiving(m_monitor) < 0) {
        log::warning(std::string("no ") + source + " uevent monitor: devices are not followed");
        if (m_monitor != nullptr) {
            udev_monitor_unref(m_monitor);
            m_monitor = nullptr;
        }
        return;
    }
    m_io = loop.addIo(udev_monitor_get_fd(m_monitor), EPOLLIN, [this](uint32_t) { drain(); });
    log::info(std::string("following ") + source + " uevents");
}

UeventMonitor::~UeventMonitor() {
    m_io.reset();
    if (m_monitor != nullptr) {
        udev_monitor_unref(m_monitor);
    }
    if (m_udev != nullptr) {
        udev_unref(m_udev);
    }
}

void UeventMonitor::drain() {
    // The socket is non-blocking: read every queued event, then rescan once.
    bool any = false;
    while (udev_device* device = udev_monitor_receive_device(m_monitor)) {
        udev_device_unref(device);
        any = true;
    }
    if (any) {
        m_changed();
    }
}

} // namespace virtswarm::nodedev
