// SPDX-License-Identifier: LGPL-2.1-or-later
#include "name_database.hpp"

#include <cstring>
#include <libudev.h>

namespace virtswarm::nodedev {

NameDatabase::NameDatabase()
    : m_udev(udev_new()) {
    if (m_udev != nullptr) {
        m_hwdb = udev_hwdb_new(m_udev);
    }
}

NameDatabase::~NameDatabase() {
    if (m_hwdb != nullptr) {
        udev_hwdb_unref(m_hwdb);
    }
    if (m_udev != nullptr) {
        udev_unref(m_udev);
    }
}

NameDatabase::Names NameDatabase::lookup(const std::string& modalias) const {
    Names names;
    if (m_hwdb == nullptr || modalias.empty()) {
        return names;
    }
    udev_list_entry* entry = udev_hwdb_get_properties_list_entry(m_hwdb, modalias.c_str(), 0);
    for (; entry != nullptr; entry = udev_list_entry_get_next(entry)) {
        const char* key = udev_list_entry_get_name(entry);
        const char* value = udev_list_entry_get_value(entry);
        if (key == nullptr || value == nullptr) {
            continue;
        }
        if (std::strcmp(key, "ID_VENDOR_FROM_DATABASE") == 0) {
            names.vendor = value;
        } else if (std::strcmp(key, "ID_MODEL_FROM_DATABASE") == 0) {
            names.product = value;
        }
    }
    return names;
}

} // namespace virtswarm::nodedev
