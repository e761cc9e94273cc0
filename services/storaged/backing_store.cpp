// SPDX-License-Identifier: LGPL-2.1-or-later
#include "backing_store.hpp"

#include "virtswarm/qcow2_header.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::storage {
namespace {

Result<VolumeDef> resolveFrom(VolumeDef def, int fd) {
    auto header = readQcow2Header(fd);
    if (!header) {
        return header.takeError().prefix("backing store '" + def.backingPath + "'");
    }
    bool qcow2 = header.value().has_value();
    if (def.backingFormat == VolumeFormat::Qcow2 && !qcow2) {
        return Error(Code::InvalidArgs,
                     "backing store '" + def.backingPath + "' is not a qcow2 image");
    }
    if (!def.backingFormat) {
        def.backingFormat = qcow2 ? VolumeFormat::Qcow2 : VolumeFormat::Raw;
    }
    if (def.capacity == 0) {
        // What the guest sees of the backing file: a qcow2 read as raw is its bytes.
        if (def.backingFormat == VolumeFormat::Qcow2) {
            def.capacity = header.value()->virtualSize;
        } else {
            struct stat st {};
            if (::fstat(fd, &st) != 0) {
                return Error(Code::OperationFailed,
                             "cannot read the size of backing store '" + def.backingPath + "'");
            }
            def.capacity = static_cast<uint64_t>(st.st_size);
        }
    }
    if (def.capacity == 0) {
        return Error(Code::InvalidArgs, "backing store '" + def.backingPath + "' is empty");
    }
    return def;
}

} // namespace

Result<VolumeDef> resolveBackingStore(VolumeDef def, const HostPathOpener& asCaller) {
    if (def.backingPath.empty()) {
        return def;
    }
    auto fd = asCaller.openImage(def.backingPath, O_RDONLY, "backing store");
    if (!fd) {
        return fd.takeError();
    }
    auto resolved = resolveFrom(std::move(def), fd.value());
    ::close(fd.value());
    return resolved;
}

} // namespace virtswarm::storage
