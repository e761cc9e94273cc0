// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "client.hpp"
#include "procedures.hpp"

#include <unordered_map>

namespace virtswarm::bridge {

// Routes every frame a client sends: keepalive PINGs get PONGs, REMOTE calls go to their
// procedure after the protocol-level checks (connection open, read-only), everything else
// gets the error reply libvirtd would send — or, for messages that expect no reply,
// nothing. A bad call never closes the connection; only a broken frame does (Client).
class Dispatcher : public Client::Sink {
public:
    explicit Dispatcher(Services& services);

    void onFrame(const std::shared_ptr<Client>& client, Frame frame) override;
    void onClosed(Client& client) override;

    // The implemented procedure, or null.
    const Procedure* find(int32_t number) const;

private:
    void onKeepalive(const std::shared_ptr<Client>& client, const Header& header);
    void onRemoteCall(const std::shared_ptr<Client>& client, Frame frame);

    Services& m_services;
    std::unordered_map<int32_t, const Procedure*> m_procedures;
};

} // namespace virtswarm::bridge
