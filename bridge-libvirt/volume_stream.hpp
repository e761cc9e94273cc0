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
namespace virtswarm::bridge {

class VolumeStream : public Stream, public std::enable_shared_from_this<VolumeStream> {
public:
    // Streamed data per message: what libvirt's own client and daemon send.
    static constexpr size_t kChunk = 256 * 1024;

    using Finish = std::function<void(int fd, std::function<void(Result<void>)> done)>;

    // An unnamed file for the bytes in transit (O_TMPFILE in the bridge's spool directory:
    // $VIRTSWARM_SPOOL_DIR, else /var/tmp), or an error.
    static Result<int> createSpoolFile();

    // Takes ownership of `fd` and registers the stream under the call's serial. At most
    // `maxBytes` are accepted; `finish` hands the file to storaged.
    static void attachUpload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                             uint64_t maxBytes, Finish finish);
    // Takes ownership of `fd` (filled) and sends `length` bytes (0: all) from `offset`.
    static void attachDownload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                               uint64_t offset, uint64_t length);
    ~VolumeStream() override;

    void onClientMessage(const Header& header, std::span<const uint8_t> payload) override;
    void onClientWritable() override;

private:
    VolumeStream(std::weak_ptr<Client> client, const Header& call, int fd);
    void send(uint32_t status, std::span<const uint8_t> payload);
    void sendError(const Error& error);
    void receive(std::span<const uint8_t> data);
    void pump();
    void finished();
    void forget();

    std::weak_ptr<Client> m_client;
    Header m_call;
    int m_fd;
    bool m_upload = false;
    uint64_t m_maxBytes = 0;
    uint64_t m_received = 0;
    Finish m_finish;
    bool m_failed = false;    // an error was sent: further data is dropped
    uint64_t m_offset = 0;    // download: next byte to send
    uint64_t m_remaining = 0; // download: bytes still to send
    bool m_ended = false;     // download: the empty CONTINUE is out
};

} // namespace virtswarm::bridge
