// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// OpenVolume: a VM's disk handed to its shim as an open file (the fd broker), and the
// hold that keeps the volume from being deleted, wiped or shrunk under the VM.
#include "storage_service.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/fd_broker.hpp"
#include "volume_holders.hpp"

#include <optional>
#include <sys/types.h>

namespace virtswarm::storage {

struct OpenRequest {
    bool writable = false;
    std::string domain;              // the domain's UUID, for the hold
    std::optional<uid_t> definerUid; // polkit decides for this uid (root callers)
};

// Options "writable", "domain" (required), "definer-uid". Errors: InvalidArgs.
Result<OpenRequest> parseOpenRequest(const Options& options);

struct VolumeToOpen {
    VolumeInfo info;
    PolkitDetails details; // pool_name, pool_uuid, vol_name
};

// The volume `volume` of the active pool `pool`. Errors: NoSuchPool, InvalidState (pool
// not active), NoSuchVolume.
Result<VolumeToOpen> volumeToOpen(StorageService& service, const std::string& pool,
                                  const std::string& volume);

// Opens the volume's file (never through a symbolic link; a regular file or a block
// device) with the access the request asks, and records the hold of `holder` (a unique bus
// name). A qcow2 with a backing file is NotSupported: QEMU would open the backing file by
// path itself, with rights the VM's user may not have.
Result<service::BrokeredFd> openHeldVolume(VolumeHolders& holders, const VolumeToOpen& target,
                                           const std::string& holder, const OpenRequest& request);

} // namespace virtswarm::storage
