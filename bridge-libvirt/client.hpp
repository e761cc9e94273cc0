// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "frame.hpp"
#include "input_budget.hpp"
#include "limits.hpp"
#include "remote_types.hpp"
#include "virtswarm/event_loop.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>

// One libvirt client connection: non-blocking socket I/O on the event loop, framing, the
// output queue and the per-connection state of the protocol (open, read-only, URI, event
// callbacks). Calls are dispatched as they arrive and answered in any order.
namespace virtswarm::bridge {

// Who is on the other end, from SO_PEERCRED. TCP peers have no credentials.
struct PeerIdentity {
    bool known = false;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;

    // Whose limits the connection counts against (InputBudget::Owner).
    std::optional<uid_t> owner() const { return known ? std::optional<uid_t>(uid) : std::nullopt; }
};

// A libvirt stream (STREAM messages sharing the serial of the call that opened it) whose
// other end is served by the bridge, such as a console.
class Stream {
public:
    virtual ~Stream() = default;
    // A STREAM message from the client: data (CONTINUE), finish (OK) or abort (ERROR).
    virtual void onClientMessage(const Header& header, std::span<const uint8_t> payload) = 0;
    // The client's output queue drained below its high-water mark: more may be sent.
    virtual void onClientWritable() = 0;
    // Whether the stream can go on in proxyd's next image (a re-exec), and then its part
    // of the handover: the descriptor it serves, moved to `parkingFd` or above and left
    // open across execve, and what it had not passed on yet. By default a stream ends with
    // the image (its connection is closed then).
    struct Handed {
        std::string kind;
        int32_t procedure = 0; // of the call that opened the stream
        int fd = -1;
        std::vector<uint8_t> pending;
    };
    virtual bool canHandOver() const { return false; }
    virtual std::optional<Handed> handOver(int parkingFd) {
        (void)parkingFd;
        return std::nullopt;
    }
    // A STREAM_HOLE message: the client skips `length` bytes of a sparse upload. False when
    // this stream was not opened sparse (libvirt's "Unexpected stream hole").
    virtual bool onClientHole(const Header& header, std::span<const uint8_t> payload) {
        (void)header;
        (void)payload;
        return false;
    }
};

class Client;

// Sends a STREAM message (status CONTINUE, OK or ERROR) of the stream the call `call`
// opened, if the client is still there.
void sendStreamMessage(const std::weak_ptr<Client>& client, const Header& call, uint32_t status,
                       std::span<const uint8_t> payload);
// Sends a STREAM_HOLE message (status CONTINUE): the next `length` bytes of a sparse stream
// are a hole.
void sendStreamHole(const std::weak_ptr<Client>& client, const Header& call, uint64_t length);

// Who is at the other end of a connected socket: the UNIX peer's credentials, or unknown
// (TCP).
PeerIdentity peerOf(int fd);

struct EventRegistration {
    enum class Kind { Domain, Network, StoragePool, NodeDevice, Secret };
    Kind kind = Kind::Domain;
    int32_t eventId = 0;
    std::optional<UuidBytes> only;       // only events of this domain, network, pool or secret
    std::optional<std::string> onlyName; // only events of this node device (no UUID)
};

class Client : public std::enable_shared_from_this<Client> {
public:
    class Sink {
    public:
        virtual ~Sink() = default;
        virtual void onFrame(const std::shared_ptr<Client>& client, Frame frame) = 0;
        virtual void onClosed(Client& client) = 0;
    };

    // Input is claimed from `budget` (shared by all clients) before it is buffered.
    Client(EventLoop& loop, int fd, uint64_t id, bool readOnlySocket, PeerIdentity peer,
           ClientLimits limits, InputBudgets& budgets, Sink& sink);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void start();

    uint64_t id() const { return m_id; }
    const PeerIdentity& peer() const { return m_peer; }
    std::string describe() const;

    // Protocol state.
    bool opened() const { return m_opened; }
    // A read-only socket makes every connection on it read-only, whatever CONNECT_OPEN
    // asked (as libvirtd does). Lifts the limits of a connection that has not opened.
    void open(std::string uri, bool readOnly);
    bool readOnly() const { return m_readOnly || m_readOnlySocket; }
    bool readOnlySocket() const { return m_readOnlySocket; }
    // polkit granted this client libvirt's own org.libvirt.unix.manage when it opened the
    // connection (Debian's `libvirt` group rule, libvirt-dbus's rule): it is served as
    // libvirtd serves it, with full access, as root — no per-operation checks, and its
    // definitions reach what root can. Root-equivalent, like that group. Never on a
    // read-only connection.
    void grantLibvirtManage() { m_libvirtManage = true; }
    bool managesLibvirt() const { return m_libvirtManage && !readOnly(); }
    // Whose rights the client's definitions carry: its own uid, or root's when it manages
    // libvirt.
    uid_t definerUid() const { return managesLibvirt() ? 0 : m_peer.uid; }
    const std::string& uri() const { return m_uri; }
    std::map<int32_t, EventRegistration>& events() { return m_events; }
    // Open streams by the serial of the call that opened them. Closing the client drops
    // them (and whatever they hold open).
    std::map<uint32_t, std::shared_ptr<Stream>>& streams() { return m_streams; }
    // Whether more stream data may be queued now (flow control of streams).
    bool wantsStreamData() const { return !closed() && m_outBytes < m_limits.outputHighWater; }

    // Whether descriptors can travel with messages: only on a UNIX socket
    // (VIR_DRV_FEATURE_FD_PASSING).
    bool passesFds() const { return m_peer.known; }

    // Output. Nothing is sent once the client is closed.
    void sendReply(const Header& call, std::span<const uint8_t> payload);
    // A REPLY_WITH_FDS: the descriptors follow the message, each on a byte of its own.
    void sendReplyWithFds(const Header& call, std::span<const uint8_t> payload,
                          std::vector<sdbus::UnixFd> fds);
    void sendError(const Header& call, const RpcError& error);
    void sendMessage(const Header& header, std::span<const uint8_t> payload);

    // Calls in flight; the dispatcher brackets every call with these.
    void callStarted() { ++m_pending; }
    void callFinished();
    size_t callsInFlight() const { return m_pending; }

    void close(const std::string& why);
    bool closed() const { return m_fd < 0; }

    // Before proxyd re-executes (client_handover.cpp): the connection's state for the next
    // image — its socket, moved to `parkingFd` or above and left open across execve, the
    // protocol state, event registrations, unread input and its console sessions. None,
    // and the connection is closed (its client reconnects), when it cannot go on there: a
    // stream other than a live console is open, a call is unanswered, descriptors wait
    // for their message, or its output does not drain within `flushFor`.
    std::optional<nlohmann::json> handOver(int parkingFd, std::chrono::milliseconds flushFor);
    // In the next image: the connection handed over, watched again and serving. Its
    // descriptor is closed if it cannot be.
    static Result<std::shared_ptr<Client>> adopt(EventLoop& loop, const nlohmann::json& state,
                                                 ClientLimits limits, InputBudgets& budgets,
                                                 Sink& sink);

private:
    // Writes the queued output, waiting for the socket at most `limit`; true when all
    // went.
    bool drainOutput(std::chrono::milliseconds limit);
    void onIo(uint32_t revents);
    void readAvailable();
    void processFrames();
    void flush();
    void queue(std::vector<uint8_t> bytes, std::vector<sdbus::UnixFd> fds = {});
    bool receive(std::span<uint8_t> buffer, size_t& received);
    bool sendFd(const sdbus::UnixFd& fd);
    bool acceptingCalls() const;
    void updateIoEvents();
    void scheduleResume();
    bool claimInput();
    void onOpenTimeout();

    EventLoop& m_loop;
    int m_fd;
    uint64_t m_id;
    bool m_readOnlySocket;
    PeerIdentity m_peer;
    ClientLimits m_limits;
    InputBudgets& m_budgets;
    Sink& m_sink;
    EventSource m_io;
    EventSource m_resume;       // pending resumption of reading (scheduleResume)
    EventSource m_openDeadline; // closes a connection that does not open in time
    FrameParser m_parser;
    size_t m_claimed = 0; // of m_budgets.bytes, for the input in m_parser
    // Descriptors received and not yet claimed by a *_WITH_FDS message, in arrival order.
    std::deque<sdbus::UnixFd> m_inFds;
    struct Outgoing {
        std::vector<uint8_t> bytes;
        std::vector<sdbus::UnixFd> fds; // sent after the bytes
    };
    std::deque<Outgoing> m_out;
    size_t m_outOffset = 0;  // sent bytes of m_out.front()
    size_t m_outFdsSent = 0; // sent descriptors of m_out.front()
    size_t m_outBytes = 0;
    size_t m_pending = 0;
    bool m_eof = false;
    bool m_opened = false;
    bool m_readOnly = false;
    bool m_libvirtManage = false;
    std::string m_uri;
    std::map<int32_t, EventRegistration> m_events;
    std::map<uint32_t, std::shared_ptr<Stream>> m_streams;
};

} // namespace virtswarm::bridge
