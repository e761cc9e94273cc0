// SPDX-License-Identifier: LGPL-2.1-or-later
// vol-upload and vol-download (STORAGE_VOL_UPLOAD 208, STORAGE_VOL_DOWNLOAD 209): libvirt
// streams staged in a spool file the bridge hands to storaged's Upload/Download jobs
// (volume_stream.hpp), after the client's polkit check for data-write / data-read.
#include "protocol.hpp"
#include "storage_procedures.hpp"
#include "volume_stream.hpp"

#include <unistd.h>

namespace virtswarm::bridge {
namespace {

// VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM / VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM: holes
// would come as STREAM_HOLE messages, which the bridge does not speak.
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
// call answered) when malformed or asking what the bridge cannot do.
std::optional<TransferArgs> readTransfer(const CallPtr& call, xdr::Reader& args) {
    TransferArgs t;
    t.vol = readStorageVol(args);
    t.offset = args.u64();
    t.length = args.u64();
    t.flags = args.u32();
    if (!argsDone(call, args)) {
        return std::nullopt;
    }
    if ((t.flags & kSparseStream) != 0) {
        call->fail(Error(Code::NotSupported, "sparse streams are not supported"));
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

void upload(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto t = readTransfer(call, args);
    if (!t) {
        return;
    }
    if (t->offset != 0) {
        // storaged's Upload replaces the whole content.
        call->fail(Error(Code::NotSupported, "uploading at an offset is not supported"));
        return;
    }
    withVolume(
        services, call, t->vol, [&services, call](const CachedPool& p, const CachedVolume& v) {
            std::string path = v.path;
            // What the pool can take at most (a file volume may grow to it).
            uint64_t maxBytes = p.available + v.allocation;
            authorizeVolume(services, call, kUpload, p, v.name, [&services, call, path, maxBytes] {
                auto client = call->client();
                if (!client) {
                    return;
                }
                auto fd = spoolFile(call);
                if (!fd) {
                    return;
                }
                VolumeStream::attachUpload(client, call->header(), *fd, maxBytes,
                                           [&services, path](int file, StorageClient::Done done) {
                                               services.storage.transfer(path, "Upload", file,
                                                                         std::move(done));
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
    withVolume(services, call, t->vol,
               [&services, call, offset, length](const CachedPool& p, const CachedVolume& v) {
                   std::string path = v.path;
                   authorizeVolume(services, call, kDownload, p, v.name,
                                   [&services, call, path, offset, length] {
                                       auto fd = spoolFile(call);
                                       if (!fd) {
                                           return;
                                       }
                                       int file = *fd;
                                       services.storage.transfer(
                                           path, "Download", file,
                                           [call, file, offset, length](Result<void> r) {
                                               auto client = call->client();
                                               if (!r || !client) {
                                                   ::close(file);
                                                   if (!r) {
                                                       call->fail(r.error());
                                                   }
                                                   return;
                                               }
                                               call->replyVoid();
                                               VolumeStream::attachDownload(client, call->header(),
                                                                            file, offset, length);
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
