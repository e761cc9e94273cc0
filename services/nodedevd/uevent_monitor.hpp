// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"

#include <functional>

struct udev;
struct udev_monitor;

namespace virtswarm::nodedev {

// Tells when host devices come, go or change: udevd's events when udevd runs (they come
// after its rules, with the names in its database), else the kernel's own uevents. On a
// host without either (no netlink), `active()` is false and nodedevd says so
// (Manager.LiveUpdates).
class UeventMonitor {
public:
    UeventMonitor(EventLoop& loop, std::function<void()> changed);
    ~UeventMonitor();
    UeventMonitor(const UeventMonitor&) = delete;
    UeventMonitor& operator=(const UeventMonitor&) = delete;

    bool active() const { return m_monitor != nullptr; }

private:
    void drain();

    struct udev* m_udev = nullptr;
    struct udev_monitor* m_monitor = nullptr;
    std::function<void()> m_changed;
    EventSource m_io;
};

} // namespace virtswarm::nodedev
