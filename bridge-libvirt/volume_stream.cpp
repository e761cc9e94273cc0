// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_stream.hpp"

#include "rpc_error.hpp"
#include "xdr.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace virtswarm::bridge {

Result<int> VolumeStream::createSpoolFile() {
    const char* dir = std::getenv("VIRTSWARM_SPOOL_DIR");
    std::string where = dir != nullptr && *dir != '\0' ? dir : "/var/tmp";
    int fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        return Error(Code::OperationFailed,
                     "cannot create a spool file in " + where + ": " + std::strerror(errno));
    }
    return fd;
}

VolumeStream::VolumeStream(std::weak_ptr<Client> client, const Header& call, int fd)
    : m_client(std::move(client))
    , m_call(call)
    , m_fd(fd) {}

VolumeStream::~VolumeStream() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

void VolumeStream::attachUpload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                                UploadLimits limits, bool sparse, Finish finish) {
    std::shared_ptr<VolumeStream> stream(new VolumeStream(client, call, fd));
    stream->m_upload = true;
    stream->m_sparse = sparse;
    stream->m_limits = limits;
    stream->m_finish = std::move(finish);
    client->streams()[call.serial] = stream;
}

void VolumeStream::attachDownload(const std::shared_ptr<Client>& client, const Header& call, int fd,
                                  uint64_t offset, uint64_t length, bool sparse) {
    std::shared_ptr<VolumeStream> stream(new VolumeStream(client, call, fd));
    stream->m_sparse = sparse;
    struct stat st {};
    uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    stream->m_offset = std::min(offset, size);
    uint64_t available = size - stream->m_offset;
    stream->m_remaining = length == 0 ? available : std::min(length, available);
    client->streams()[call.serial] = stream;
    stream->pump();
}

void VolumeStream::send(uint32_t status, std::span<const uint8_t> payload) {
    sendStreamMessage(m_client, m_call, status, payload);
}

void VolumeStream::sendError(const Error& error) {
    xdr::Writer w;
    writeError(w, toRpcError(error));
    send(static_cast<uint32_t>(proto::MessageStatus::Error), w.bytes());
    m_failed = true;
}

void VolumeStream::onClientMessage(const Header& header, std::span<const uint8_t> payload) {
    auto self = shared_from_this(); // finishing removes it from the client's map
    if (header.status == static_cast<uint32_t>(proto::MessageStatus::Continue)) {
        if (m_upload && !m_failed) {
            receive(payload);
        }
        return;
    }
    bool finish = header.status == static_cast<uint32_t>(proto::MessageStatus::Ok);
    if (!finish || !m_upload || m_failed) {
        // An abort, or the end of a download: confirm with an empty OK, as libvirtd does.
        send(static_cast<uint32_t>(proto::MessageStatus::Ok), {});
        forget();
        return;
    }
    finished();
}

bool VolumeStream::onClientHole(const Header& header, std::span<const uint8_t> payload) {
    (void)header;
    if (!m_upload || !m_sparse) {
        return false;
    }
    if (m_failed) {
        return true; // dropped, as data after an error
    }
    xdr::Reader r(payload);
    int64_t length = r.i64();
    uint32_t flags = r.u32();
    if (!r.finish() || length < 0 || flags != 0) {
        sendError(Error(Code::InvalidArgs, "malformed stream hole"));
        return true;
    }
    auto bytes = static_cast<uint64_t>(length);
    if (!accepts(bytes, false)) {
        return true;
    }
    // Skipped, not written: the file grows over it at the next write or at the finish.
    if (::lseek(m_fd, static_cast<off_t>(bytes), SEEK_CUR) < 0) {
        sendError(Error(Code::OperationFailed,
                        std::string("cannot spool the upload: ") + std::strerror(errno)));
        return true;
    }
    m_received += bytes;
    return true;
}

bool VolumeStream::accepts(uint64_t bytes, bool data) {
    if (bytes > m_limits.bytes - m_received) {
        sendError(Error(Code::InvalidArgs, "the upload is longer than the " +
                                               std::to_string(m_limits.bytes) +
                                               " bytes the volume can take"));
        return false;
    }
    if (data && bytes > m_limits.data - m_receivedData) {
        sendError(Error(Code::InvalidArgs, "the upload is larger than the " +
                                               std::to_string(m_limits.data) +
                                               " bytes the pool has free"));
        return false;
    }
    return true;
}

void VolumeStream::receive(std::span<const uint8_t> data) {
    if (!accepts(data.size(), true)) {
        return;
    }
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(m_fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            sendError(Error(Code::OperationFailed,
                            std::string("cannot spool the upload: ") + std::strerror(errno)));
            return;
        }
        done += static_cast<size_t>(n);
    }
    m_received += data.size();
    m_receivedData += data.size();
}

// The client finished sending: storaged takes the file; the finish is confirmed when its
// job is done, so virStreamFinish returns once the volume holds the data (as with libvirtd).
void VolumeStream::finished() {
    // A hole at the end was only skipped: the file is made as long as the upload.
    off_t end = ::lseek(m_fd, 0, SEEK_CUR);
    struct stat st {};
    if (end > 0 && ::fstat(m_fd, &st) == 0 && st.st_size < end) {
        if (::ftruncate(m_fd, end) != 0) {
            sendError(Error(Code::OperationFailed,
                            std::string("cannot spool the upload: ") + std::strerror(errno)));
            forget();
            return;
        }
    }
    if (::lseek(m_fd, 0, SEEK_SET) != 0) {
        sendError(Error(Code::OperationFailed, "cannot rewind the spooled upload"));
        forget();
        return;
    }
    std::weak_ptr<VolumeStream> weak = weak_from_this();
    m_finish(m_fd, [weak](Result<void> r) {
        auto self = weak.lock();
        if (!self) {
            return; // the client is gone
        }
        if (r) {
            self->send(static_cast<uint32_t>(proto::MessageStatus::Ok), {});
        } else {
            self->sendError(r.error());
        }
        self->forget();
    });
}

uint64_t VolumeStream::holeAhead() const {
    off_t data = ::lseek(m_fd, static_cast<off_t>(m_offset), SEEK_DATA);
    if (data < 0) {
        // ENXIO: no data up to the end; anything else: take it as data (read, not skipped).
        return errno == ENXIO ? m_remaining : 0;
    }
    return std::min(static_cast<uint64_t>(data) - m_offset, m_remaining);
}

uint64_t VolumeStream::dataAhead() const {
    off_t hole = ::lseek(m_fd, static_cast<off_t>(m_offset), SEEK_HOLE);
    if (hole < 0 || static_cast<uint64_t>(hole) <= m_offset) {
        return m_remaining;
    }
    return std::min(static_cast<uint64_t>(hole) - m_offset, m_remaining);
}

bool VolumeStream::sendNext(std::vector<uint8_t>& buf) {
    uint64_t want = m_remaining;
    if (m_sparse) {
        if (uint64_t hole = holeAhead(); hole > 0) {
            sendStreamHole(m_client, m_call, hole);
            m_offset += hole;
            m_remaining -= hole;
            return true;
        }
        want = dataAhead();
    }
    buf.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, want)));
    ssize_t n;
    do {
        n = ::pread(m_fd, buf.data(), buf.size(), static_cast<off_t>(m_offset));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return false; // the file ended early: what there was has been sent
    }
    send(static_cast<uint32_t>(proto::MessageStatus::Continue),
         std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
    m_offset += static_cast<uint64_t>(n);
    m_remaining -= static_cast<uint64_t>(n);
    return true;
}

void VolumeStream::pump() {
    std::vector<uint8_t> buf;
    while (m_remaining > 0) {
        auto client = m_client.lock();
        if (!client || !client->wantsStreamData()) {
            return; // resumed by onClientWritable()
        }
        if (!sendNext(buf)) {
            m_remaining = 0;
        }
    }
    if (!m_ended) {
        // End of stream is CONTINUE with no data (console_stream.cpp: measured).
        m_ended = true;
        send(static_cast<uint32_t>(proto::MessageStatus::Continue), {});
    }
}

void VolumeStream::onClientWritable() {
    if (!m_upload) {
        auto self = shared_from_this();
        pump();
    }
}

void VolumeStream::forget() {
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (auto client = m_client.lock()) {
        client->streams().erase(m_call.serial);
    }
}

} // namespace virtswarm::bridge
