// SPDX-License-Identifier: LGPL-2.1-or-later
// vol-upload and vol-download (STORAGE_VOL_UPLOAD 208, STORAGE_VOL_DOWNLOAD 209): libvirt
// streams staged in a spool file the bridge hands to storaged's Upload/Download jobs
// (volume_stream.hpp), after the client's polkit check for data-write / data-read.
#include "protocol.hpp"
#include "storage_procedures.hpp"
#include "volume_stream.hpp"

#include <algorithm>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

// VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM / VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM: holes go
// as STREAM_HOLE messages (volume_stream.hpp); the only flag of either call.
constexpr uint32_t kSparseStream = 1;

constexpr auto kUpload = actions::forMethod(names::kStorageVolumeInterface, "Upload");
constexpr auto kDownload = actions::forMethod(names::kStorageVolumeInterface, "Download");

struct TransferArgs {
    RemoteStorageVol vol;
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t flags = 0;
};

// (vol, unsigned hyper offset, unsigned hyper length, unsigned int flags), or nothing (the
// call answered) when malformed or with a flag libvirt does not define.
std::optional<TransferArgs> readTransfer(const CallPtr& call, xdr::Reader& args) {
    TransferArgs t;
    t.vol = readStorageVol(args);
    t.offset = args.u64();
    t.length = args.u64();
    t.flags = args.u32();
    if (!argsDone(call, args)) {
        return std::nullopt;
    }
    if (!flagsKnown(call, t.flags, kSparseStream)) {
        return std::nullopt;
    }
    return t;
}

// Opens the spool file; answers the call with the error when it cannot.
std::optional<int> spoolFile(const CallPtr& call) {
    auto fd = VolumeStream::createSpoolFile();
    if (!fd) {
        call->fail(fd.error());
        return std::nullopt;
    }
    return fd.value();
}

// Where an upload goes. A range (an offset or a length, as libvirt's) is written into the
// volume in place, holes as zeros; otherwise the upload replaces its content. In place, at
// most what is left of the volume from the offset; replacing it, at most as much data as
// the pool can take (a file volume replaced whole may grow to it; its holes take no room);
// and `length` if given.
struct UploadPlan {
    VolumeStream::UploadLimits limits;
    Options options; // storaged's Upload "offset"
};

UploadPlan planUpload(const TransferArgs& t, const CachedPool& pool, const CachedVolume& vol) {
    UploadPlan plan;
    bool inPlace = t.offset > 0 || t.length > 0;
    if (inPlace) {
        plan.limits.bytes = t.offset < vol.capacity ? vol.capacity - t.offset : 0;
        plan.limits.data = plan.limits.bytes;
    } else {
        plan.limits.data = pool.available + vol.allocation;
    }
    if (t.length > 0) {
        plan.limits.bytes = std::min(plan.limits.bytes, t.length);
        plan.limits.data = std::min(plan.limits.data, t.length);
    }
    if (inPlace) {
        plan.options["offset"] = sdbus::Variant(t.offset);
    }
    return plan;
}

void upload(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto t = readTransfer(call, args);
    if (!t) {
        return;
    }
    withVolume(services, call, t->vol,
               [&services, call, t = *t](const CachedPool& p, const CachedVolume& v) {
                   std::string path = v.path;
                   UploadPlan plan = planUpload(t, p, v);
                   bool sparse = (t.flags & kSparseStream) != 0;
                   authorizeVolume(services, call, kUpload, p, v.name,
                                   [&services, call, path, plan, sparse] {
                                       auto client = call->client();
                                       auto fd = client ? spoolFile(call) : std::nullopt;
                                       if (!fd) {
                                           return;
                                       }
                                       VolumeStream::attachUpload(
                                           client, call->header(), *fd, plan.limits, sparse,
                                           [&services, path, options = plan.options](
                                               int file, StorageClient::Done done) {
                                               services.storage.transfer(path, "Upload", file,
                                                                         options, std::move(done));
                                           });
                                       call->replyVoid();
                                   });
               });
}

void download(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto t = readTransfer(call, args);
    if (!t) {
        return;
    }
    uint64_t offset = t->offset, length = t->length;
    bool sparse = (t->flags & kSparseStream) != 0;
    withVolume(
        services, call, t->vol,
        [&services, call, offset, length, sparse](const CachedPool& p, const CachedVolume& v) {
            std::string path = v.path;
            authorizeVolume(services, call, kDownload, p, v.name,
                            [&services, call, path, offset, length, sparse] {
                                auto fd = spoolFile(call);
                                if (!fd) {
                                    return;
                                }
                                int file = *fd;
                                services.storage.transfer(
                                    path, "Download", file, Options{},
                                    [call, file, offset, length, sparse](Result<void> r) {
                                        auto client = call->client();
                                        if (!r || !client) {
                                            ::close(file);
                                            if (!r) {
                                                call->fail(r.error());
                                            }
                                            return;
                                        }
                                        call->replyVoid();
                                        VolumeStream::attachDownload(client, call->header(), file,
                                                                     offset, length, sparse);
                                    });
                            });
        });
}

constexpr Procedure kProcedures[] = {
    {proto::StorageVolUpload, "virStorageVolUpload", Access::Write, upload},
    {proto::StorageVolDownload, "virStorageVolDownload", Access::Read, download},
};

} // namespace

std::span<const Procedure> storageVolStreamProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
