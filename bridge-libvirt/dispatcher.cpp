// SPDX-License-Identifier: LGPL-2.1-or-later
#include "dispatcher.hpp"

#include "protocol.hpp"
#include "rpc_error.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::bridge {

Dispatcher::Dispatcher(Services& services)
    : m_services(services) {
    for (auto group : {connectProcedures(),
                       nodeProcedures(),
                       domainQueryProcedures(),
                       domainLifecycleProcedures(),
                       domainSaveProcedures(),
                       domainSnapshotProcedures(),
                       domainStatsProcedures(),
                       domainAccountingProcedures(),
                       domainDeviceProcedures(),
                       domainGraphicsProcedures(),
                       domainTuningProcedures(),
                       domainJobProcedures(),
                       eventProcedures(),
                       networkQueryProcedures(),
                       networkLifecycleProcedures(),
                       networkEventProcedures(),
                       storagePoolQueryProcedures(),
                       storagePoolLifecycleProcedures(),
                       storageVolProcedures(),
                       storageVolStreamProcedures(),
                       storageEventProcedures(),
                       nodeDeviceEventProcedures(),
                       interfaceProcedures(),
                       domainAddressProcedures(),
                       domainAgentProcedures(),
                       nodeDeviceProcedures(),
                       nwfilterProcedures(),
                       nwfilterBindingProcedures()}) {
        for (const auto& p : group) {
            m_procedures.emplace(p.number, &p);
        }
    }
}

const Procedure* Dispatcher::find(int32_t number) const {
    auto it = m_procedures.find(number);
    return it == m_procedures.end() ? nullptr : it->second;
}

void Dispatcher::onFrame(const std::shared_ptr<Client>& client, Frame frame) {
    const Header& h = frame.header;
    bool isCall = h.is(proto::MessageType::Call) || h.is(proto::MessageType::CallWithFds);
    if (h.program == proto::kKeepaliveProgram && h.version == proto::kProtocolVersion) {
        if (isCall) {
            client->sendError(h, unknownProcedure(h.procedure));
        } else {
            onKeepalive(client, h);
        }
        return;
    }
    if (h.program != proto::kRemoteProgram || h.version != proto::kProtocolVersion) {
        // Only calls are answered; a stray reply or event needs no answer.
        if (isCall) {
            client->sendError(h, unknownProgram(h.program, h.version));
        }
        return;
    }
    if (h.is(proto::MessageType::Stream) || h.is(proto::MessageType::StreamHole)) {
        // Data or a hole for a stream this client opened (a console, a volume transfer);
        // anything else is dropped, as libvirtd drops stream messages no stream claims.
        auto it = client->streams().find(h.serial);
        if (it == client->streams().end()) {
            return;
        }
        auto stream = it->second; // it may end while handling the message
        if (h.is(proto::MessageType::Stream)) {
            stream->onClientMessage(h, frame.payload);
        } else if (!stream->onClientHole(h, frame.payload)) {
            xdr::Writer w;
            writeError(w, unexpectedStreamHole());
            sendStreamMessage(client, h, static_cast<uint32_t>(proto::MessageStatus::Error),
                              w.bytes());
        }
        return;
    }
    if (!isCall) {
        log::debug(client->describe() + ": ignoring message type " + std::to_string(h.type) +
                   " for procedure " + std::to_string(h.procedure));
        return;
    }
    if (h.status != static_cast<uint32_t>(proto::MessageStatus::Ok)) {
        client->sendError(h,
                          badArguments(h.procedure, "unexpected status " +
                                                        std::to_string(h.status) + " in a call"));
        return;
    }
    onRemoteCall(client, std::move(frame));
}

void Dispatcher::onKeepalive(const std::shared_ptr<Client>& client, const Header& header) {
    if (!header.is(proto::MessageType::Message) || header.procedure != proto::keepalive::kPing) {
        return; // PONGs and anything else need no answer
    }
    Header pong;
    pong.program = proto::kKeepaliveProgram;
    pong.procedure = proto::keepalive::kPong;
    pong.type = static_cast<uint32_t>(proto::MessageType::Message);
    pong.serial = 0;
    pong.status = static_cast<uint32_t>(proto::MessageStatus::Ok);
    client->sendMessage(pong, {});
}

// A CALL_WITH_FDS is dispatched as a CALL whose descriptors the procedure may take
// (Call::takeFd); those it leaves are closed with the call, as libvirtd does.
void Dispatcher::onRemoteCall(const std::shared_ptr<Client>& client, Frame frame) {
    const Header& h = frame.header;
    const Procedure* proc = find(h.procedure);
    if (proc == nullptr) {
        bool known = h.procedure >= 1 && h.procedure <= proto::kRemoteProcMax;
        if (known && !client->opened()) {
            client->sendError(h, notOpen());
        } else {
            client->sendError(h, known ? unsupportedProcedure(h.procedure)
                                       : unknownProcedure(h.procedure));
        }
        return;
    }
    if (proc->access != Access::Anonymous && !client->opened()) {
        client->sendError(h, notOpen());
        return;
    }
    if (proc->access == Access::Write && client->readOnly()) {
        client->sendError(h, readOnlyDenied(proc->name));
        return;
    }
    log::debug(client->describe() + ": " + proc->name + " (serial " + std::to_string(h.serial) +
               ")");
    auto call = std::make_shared<Call>(client, h, std::move(frame.fds));
    xdr::Reader args(frame.payload);
    try {
        proc->handler(m_services, call, args);
    } catch (const std::exception& e) {
        // Handlers return errors, they do not throw; this is the last line of defence
        // (std::bad_alloc, an sdbus-c++ surprise) so the client still gets an answer.
        log::error(std::string("procedure ") + proc->name + " failed: " + e.what());
        if (!call->answered()) {
            call->fail(Error(Code::Internal, std::string("internal error: ") + e.what()));
        }
    }
}

void Dispatcher::onClosed(Client&) {
    // Registrations and pending calls belong to the client object: nothing to clean here.
}

} // namespace virtswarm::bridge
