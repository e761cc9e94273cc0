// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "client.hpp"
#include "frame.hpp"
#include "remote_types.hpp"
#include "virtswarm/error.hpp"
#include "xdr.hpp"

#include <memory>

namespace virtswarm::bridge {

// One CALL in flight. It is answered exactly once, whenever its work completes (replies may
// overtake each other). A Call that is dropped unanswered — a lost callback — answers with
// an internal error from its destructor, so a client never waits forever.
class Call {
public:
    Call(const std::shared_ptr<Client>& client, const Header& header,
         std::vector<sdbus::UnixFd> fds = {});
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    const Header& header() const { return m_header; }
    int32_t procedure() const { return m_header.procedure; }
    // The connection, or null once the client has gone.
    std::shared_ptr<Client> client() const { return m_client.lock(); }

    // The descriptor a CALL_WITH_FDS passed at `slot`, once; an error as libvirtd's
    // (virNetMessageDupFD) when there is none.
    Result<sdbus::UnixFd> takeFd(size_t slot);

    void reply(const xdr::Writer& body);
    void replyVoid();
    // A REPLY_WITH_FDS (only on a connection that passes descriptors).
    void replyWithFds(const xdr::Writer& body, std::vector<sdbus::UnixFd> fds);
    void fail(const RpcError& error);
    void fail(const Error& error);
    bool answered() const { return m_answered; }

private:
    bool begin();

    std::weak_ptr<Client> m_client;
    Header m_header;
    std::vector<sdbus::UnixFd> m_fds;
    bool m_answered = false;
};

using CallPtr = std::shared_ptr<Call>;

} // namespace virtswarm::bridge
