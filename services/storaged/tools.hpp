// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/host_tools.hpp"

// The helper programs storaged runs (Debian's paths; the daemon never searches $PATH).
namespace virtswarm::storage::tools {

inline constexpr const char* kQemuImg = host_tools::kQemuImg;
inline constexpr const char* kMkfs = "/usr/sbin/mkfs";
inline constexpr const char* kMount = "/usr/bin/mount";
inline constexpr const char* kUmount = "/usr/bin/umount";
inline constexpr const char* kBlkdiscard = "/usr/sbin/blkdiscard";
inline constexpr const char* kDd = "/usr/bin/dd";
inline constexpr const char* kSync = "/usr/bin/sync";
inline constexpr const char* kPvcreate = "/usr/sbin/pvcreate";
inline constexpr const char* kPvremove = "/usr/sbin/pvremove";
inline constexpr const char* kVgcreate = "/usr/sbin/vgcreate";
inline constexpr const char* kVgchange = "/usr/sbin/vgchange";
inline constexpr const char* kVgremove = "/usr/sbin/vgremove";
inline constexpr const char* kVgs = "/usr/sbin/vgs";
inline constexpr const char* kLvs = "/usr/sbin/lvs";
inline constexpr const char* kLvcreate = "/usr/sbin/lvcreate";
inline constexpr const char* kLvchange = "/usr/sbin/lvchange";
inline constexpr const char* kLvresize = "/usr/sbin/lvresize";
inline constexpr const char* kLvremove = "/usr/sbin/lvremove";

} // namespace virtswarm::storage::tools
