// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace virtswarm::log_daemon {

using JournalFields = std::vector<std::pair<std::string, std::string>>;

// The journal's native socket (systemd.journal-fields(7), "native protocol"): one datagram
// per entry. Non-blocking: an entry the journal has no room for is dropped, never waited
// for, so a slow journald cannot stall the copying of logs to their files.
class JournalSocket {
public:
    // Nothing when no journal listens at `path` (a host or container without journald).
    static std::unique_ptr<JournalSocket> connect(const std::string& path);
    ~JournalSocket();
    JournalSocket(const JournalSocket&) = delete;
    JournalSocket& operator=(const JournalSocket&) = delete;

    void send(const JournalFields& fields, std::string_view message) const;

private:
    explicit JournalSocket(int fd)
        : m_fd(fd) {}
    int m_fd;
};

// A stream's bytes cut into lines for the journal, each sent with the stream's fields. A
// line longer than kMaxLine is sent in pieces; a partial line waits for its end.
class JournalLines {
public:
    static constexpr size_t kMaxLine = 4096;

    explicit JournalLines(JournalFields fields)
        : m_fields(std::move(fields)) {}

    void feed(std::string_view data, const JournalSocket* journal);
    // The partial line: kept across a re-exec (handover), sent when the stream ends.
    const std::string& partial() const { return m_partial; }
    void setPartial(std::string partial) { m_partial = std::move(partial); }
    void flush(const JournalSocket* journal);

private:
    JournalFields m_fields;
    std::string m_partial;
};

} // namespace virtswarm::log_daemon
