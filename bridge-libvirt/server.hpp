// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "client.hpp"
#include "input_budget.hpp"
#include "limits.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

// The listening sockets (UNIX read-write and read-only, optional TCP) and the set of
// connected clients, admitted within ServerLimits. Frames go to the dispatcher given as
// the Sink.
namespace virtswarm::bridge {

// A listening socket on its way to the next image of proxyd (reexec_handover.hpp).
struct HandedListener {
    int fd = -1;
    bool readOnly = false;
};

class Server : public Client::Sink {
public:
    Server(EventLoop& loop, ServerLimits serverLimits, ClientLimits clientLimits);
    ~Server() override;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void setDispatcher(Client::Sink& dispatcher) { m_dispatcher = &dispatcher; }

    // Binds a UNIX socket (mode 0666: polkit, not file permissions, decides what a client
    // may do). A stale socket file is replaced; one with a live server behind it is not.
    Result<void> listenUnix(const std::string& path, bool readOnly);
    // "HOST:PORT" (numeric IPv4, or [IPv6]:PORT). TCP clients carry no credentials, so they
    // are always read-only.
    Result<void> listenTcp(const std::string& address);
    // A socket passed by systemd (LISTEN_FDS).
    Result<void> adoptListener(int fd, bool readOnly);

    // Before a re-exec: accepts no more connections, and calls `drained` once no client
    // has a call in flight, or after `cap` (a stream or a stuck call does not hold the
    // upgrade forever).
    void drain(std::chrono::milliseconds cap, std::function<void()> drained);
    // The listening sockets, taken out of the server for the next image of proxyd: not
    // closed, and their socket files stay.
    std::vector<HandedListener> releaseListeners();
    bool hasTcpListener() const;
    // Before a re-exec, once drained: every connection that can go on in the next image,
    // written down (Client::handOver), the others closed.
    nlohmann::json handOverClients(int parkingFd);
    // In the next image: the connections the previous one handed over. One that cannot be
    // taken up is closed (its client reconnects). The largest event callback ID in use, so
    // new registrations do not reuse one.
    int32_t adoptClients(const nlohmann::json& clients);

    void forEachClient(const std::function<void(Client&)>& fn);
    size_t clientCount() const { return m_clients.size(); }

    // Client::Sink
    void onFrame(const std::shared_ptr<Client>& client, Frame frame) override;
    void onClosed(Client& client) override;

private:
    struct Listener {
        int fd = -1;
        bool readOnly = false;
        bool tcp = false;
        std::string unlinkPath; // a socket file we created
        EventSource source;
        EventSource resume; // re-enables `source` after running out of descriptors
    };

    Result<void> addListener(int fd, bool readOnly, bool tcp, std::string unlinkPath);
    void onAccept(Listener& listener);
    void pauseListener(Listener& listener);
    // Refuses (closes) a connection over the limits; true if it was admitted.
    bool admit(int fd, const PeerIdentity& peer);

    EventLoop& m_loop;
    ServerLimits m_serverLimits;
    ClientLimits m_limits;
    InputBudgets m_budgets;
    Client::Sink* m_dispatcher = nullptr;
    std::vector<std::unique_ptr<Listener>> m_listeners;
    std::map<uint64_t, std::shared_ptr<Client>> m_clients;
    uint64_t m_nextId = 1;
    std::vector<uint64_t> m_closedIds; // closed clients, dropped by m_reap
    EventSource m_reap;
    // drain(): polled every 50 ms until idle or the deadline.
    void checkDrained();
    EventSource m_drainCheck;
    std::chrono::steady_clock::time_point m_drainDeadline;
    std::function<void()> m_drained;
    bool m_stopping = false;
};

} // namespace virtswarm::bridge
