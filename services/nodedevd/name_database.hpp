// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>

struct udev;
struct udev_hwdb;

namespace virtswarm::nodedev {

// Vendor and product names from udev's hardware database (hwdb.bin), read directly so it
// works without udevd running. Absent database: no names (the ids remain), as libvirt.
class NameDatabase {
public:
    NameDatabase();
    ~NameDatabase();
    NameDatabase(const NameDatabase&) = delete;
    NameDatabase& operator=(const NameDatabase&) = delete;

    struct Names {
        std::string vendor;
        std::string product;
    };
    // `modalias`: the device's, e.g. "pci:v00001AF4d00001042sv...", or "usb:v1D6Bp0002*".
    Names lookup(const std::string& modalias) const;

private:
    struct udev* m_udev = nullptr;
    struct udev_hwdb* m_hwdb = nullptr;
};

} // namespace virtswarm::nodedev
