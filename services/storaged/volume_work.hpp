// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "job.hpp"
#include "pool_backend.hpp"

#include <memory>
#include <optional>

// The work behind each volume operation, composed from a pool's backend and the helper
// programs. Every piece that writes a new volume writes it under its partial name and
// commits only when complete; a failure or a cancel discards it.
namespace virtswarm::storage {

using VolumeDone = std::function<void(Result<void>)>;

// qemu-img create (files) or lvcreate (logical volumes), then commit.
void createVolume(EventLoop& loop, PoolBackend& pool, const VolumeDef& def, VolumeDone done);

// qemu-img convert from `source` (any pool, any format) into a new volume of `target`.
// `job` gets qemu-img's progress and its cancel stops the work; `done` runs after the
// commit or the discard (the caller completes the job then).
void cloneVolume(EventLoop& loop, const VolumeInfo& source, PoolBackend& target,
                 const VolumeDef& def, const std::shared_ptr<Job>& job, VolumeDone done);

// Zeroes a volume: a file volume is made anew with the same format, size and backing file
// (all zeros, and as sparse as a new one), then put in place of the old one in one rename;
// a logical volume is zeroed with blkdiscard.
void wipeVolume(EventLoop& loop, PoolBackend& pool, const VolumeInfo& volume,
                const std::shared_ptr<Job>& job, VolumeDone done);

// The bytes of a client's regular file (`fd`, open for reading) become the volume: a file
// volume is written under its partial name (sparse) and renamed over the old one only when
// complete; a logical volume is written in place. BytesDone follows the bytes written.
// With `at` they go into the volume from that offset, in place, the rest kept (dd, not
// truncating; a failure leaves what was written so far, as libvirt's).
void uploadVolume(EventLoop& loop, PoolBackend& pool, const VolumeInfo& volume, int fd,
                  std::optional<uint64_t> at, const std::shared_ptr<Job>& job, VolumeDone done);

// The volume's bytes into a client's regular file (`fd`, open for writing), sparse.
void downloadVolume(EventLoop& loop, const VolumeInfo& volume, int fd,
                    const std::shared_ptr<Job>& job, VolumeDone done);

// A client's fd for upload or download: a regular file open in the right direction, else
// InvalidArgs naming what is wrong. Its size, for the job's total.
Result<uint64_t> checkTransferFd(int fd, bool forWriting);

} // namespace virtswarm::storage
