// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "client.hpp"
#include "virtswarm/result.hpp"

#include <cstdint>
#include <functional>
#include <memory>

// vol-upload and vol-download as libvirt streams. storaged takes and gives a volume's bytes
// only through a regular file the caller opened (Volume.Upload/Download), so the bridge
// stages them in an unnamed temporary file of its own:
// - upload: the client's STREAM data is appended to the file; on the client's finish the
//   file goes to storaged, and the finish is confirmed (OK) or refused (ERROR) once the
//   job completed;
// - download: storaged's job fills the file first; then its bytes go to the client as
//   STREAM data, paced by the client's output queue, and end with an empty CONTINUE.
// A sparse stream (libvirt's *_SPARSE_STREAM flags) carries holes as STREAM_HOLE messages
// both ways: an uploaded hole is skipped in the file, and the file's holes (storaged keeps
// them: its copies are sparse) are sent as holes, so neither side moves their zeros.
namespace virtswarm::bridge {

class VolumeStream : public Stream, public std::enable_shared_from_this<VolumeStream> {
public:
    // Streamed data per message: what libvirt's own client and daemon send.
    static constexpr size_t kChunk = 256 * 1024;

    using Finish = std::function<void(int fd, std::function<void(Result<void>)> done)>;

    // What an upload may bring: `bytes` from its start to its end, holes included (in place,
    // what is left of the volume), and `data` written (replacing a file volume, the pool's
    // free space).
    struct UploadLimits {
        uint64_t bytes = UINT64_MAX;
        uint64_t data = UINT64_MAX;
    };

    // An unnamed file for the bytes in transit (O_TMPFILE in the bridge's spool directory:
    // $VIRTSWARM_SPOOL_DIR, else /var/tmp), or an error.
    static Result<int> createSpoolFile();

    // Takes ownership of `fd` and registers the stream under the call's serial. At most
    // `limits` are enforced; `finish` hands the file to storaged.
    static void attachUpload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                             UploadLimits limits, bool sparse, Finish finish);
    // Takes ownership of `fd` (filled) and sends `length` bytes (0: all) from `offset`.
    static void attachDownload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                               uint64_t offset, uint64_t length, bool sparse);
    ~VolumeStream() override;

    void onClientMessage(const Header& header, std::span<const uint8_t> payload) override;
    void onClientWritable() override;
    bool onClientHole(const Header& header, std::span<const uint8_t> payload) override;

private:
    VolumeStream(std::weak_ptr<Client> client, const Header& call, int fd);
    void send(uint32_t status, std::span<const uint8_t> payload);
    void sendError(const Error& error);
    void receive(std::span<const uint8_t> data);
    // Room for `bytes` more of the upload (`data`, or a hole), else the error is sent.
    bool accepts(uint64_t bytes, bool data);
    // Download: sends the hole or the data at m_offset (at most one message); false at the
    // end of the file.
    bool sendNext(std::vector<uint8_t>& buf);
    // How many bytes from m_offset are a hole (0: data is there) in a sparse download.
    uint64_t holeAhead() const;
    // How many bytes from m_offset are data, before the next hole, in a sparse download.
    uint64_t dataAhead() const;
    void pump();
    void finished();
    void forget();

    std::weak_ptr<Client> m_client;
    Header m_call;
    int m_fd;
    bool m_upload = false;
    bool m_sparse = false;
    UploadLimits m_limits;
    uint64_t m_received = 0;     // upload: bytes, holes included
    uint64_t m_receivedData = 0; // upload: bytes written
    Finish m_finish;
    bool m_failed = false;    // an error was sent: further data is dropped
    uint64_t m_offset = 0;    // download: next byte to send
    uint64_t m_remaining = 0; // download: bytes still to send
    bool m_ended = false;     // download: the empty CONTINUE is out
};

} // namespace virtswarm::bridge
