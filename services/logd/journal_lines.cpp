// SPDX-License-Identifier: LGPL-2.1-or-later
#include "journal_lines.hpp"

#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace virtswarm::log_daemon {
namespace {

// A field in the native protocol: NAME=value, or, for a value with a newline, the name,
// a newline, the value's length as 64-bit little endian, the value and a newline.
void appendField(std::string& entry, const std::string& name, std::string_view value) {
    if (value.find('\n') == std::string_view::npos) {
        entry += name + "=";
        entry += value;
        entry += '\n';
        return;
    }
    entry += name + "\n";
    uint64_t size = value.size();
    for (int i = 0; i < 8; ++i) {
        entry += static_cast<char>((size >> (8 * i)) & 0xff);
    }
    entry += value;
    entry += '\n';
}

} // namespace

std::unique_ptr<JournalSocket> JournalSocket::connect(const std::string& path) {
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) {
        return nullptr;
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return nullptr;
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<JournalSocket>(new JournalSocket(fd));
}

JournalSocket::~JournalSocket() {
    ::close(m_fd);
}

void JournalSocket::send(const JournalFields& fields, std::string_view message) const {
    std::string entry;
    appendField(entry, "PRIORITY", "6");
    for (const auto& [name, value] : fields) {
        appendField(entry, name, value);
    }
    appendField(entry, "MESSAGE", message);
    (void)::send(m_fd, entry.data(), entry.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void JournalLines::feed(std::string_view data, const JournalSocket* journal) {
    while (!data.empty()) {
        size_t newline = data.find('\n');
        size_t take = newline == std::string_view::npos ? data.size() : newline;
        take = std::min(take, kMaxLine - m_partial.size());
        m_partial.append(data.substr(0, take));
        data.remove_prefix(take);
        bool ended = !data.empty() && data.front() == '\n';
        if (ended) {
            data.remove_prefix(1);
        }
        if (ended || m_partial.size() >= kMaxLine) {
            if (journal != nullptr) {
                journal->send(m_fields, m_partial);
            }
            m_partial.clear();
        }
    }
}

void JournalLines::flush(const JournalSocket* journal) {
    if (!m_partial.empty() && journal != nullptr) {
        journal->send(m_fields, m_partial);
    }
    m_partial.clear();
}

} // namespace virtswarm::log_daemon
