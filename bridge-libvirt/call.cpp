// SPDX-License-Identifier: LGPL-2.1-or-later
#include "call.hpp"

#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::bridge {

Call::Call(const std::shared_ptr<Client>& client, const Header& header,
           std::vector<sdbus::UnixFd> fds)
    : m_client(client)
    , m_header(header)
    , m_fds(std::move(fds)) {
    client->callStarted();
}

Call::~Call() {
    if (!m_answered) {
        log::error("procedure " + std::to_string(m_header.procedure) + " was never answered");
        RpcError e;
        e.code = proto::err::kInternalError;
        e.domain = proto::err::kFromRemote;
        e.message = "internal error: the request was dropped";
        fail(e);
    }
}

bool Call::begin() {
    if (m_answered) {
        log::error("procedure " + std::to_string(m_header.procedure) + " answered twice");
        return false;
    }
    m_answered = true;
    return true;
}

void Call::reply(const xdr::Writer& body) {
    if (!begin()) {
        return;
    }
    if (auto c = client()) {
        c->sendReply(m_header, body.bytes());
        c->callFinished();
    }
}

Result<sdbus::UnixFd> Call::takeFd(size_t slot) {
    if (slot >= m_fds.size() || !m_fds[slot].isValid()) {
        return Error(Code::Internal, "No FD available at slot " + std::to_string(slot));
    }
    return std::move(m_fds[slot]);
}

void Call::replyWithFds(const xdr::Writer& body, std::vector<sdbus::UnixFd> fds) {
    if (!begin()) {
        return;
    }
    if (auto c = client()) {
        c->sendReplyWithFds(m_header, body.bytes(), std::move(fds));
        c->callFinished();
    }
}

void Call::replyVoid() {
    reply(xdr::Writer());
}

void Call::fail(const RpcError& error) {
    if (!begin()) {
        return;
    }
    if (auto c = client()) {
        c->sendError(m_header, error);
        c->callFinished();
    }
}

void Call::fail(const Error& error) {
    fail(toRpcError(error));
}

} // namespace virtswarm::bridge
