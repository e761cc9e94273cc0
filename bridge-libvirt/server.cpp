// SPDX-License-Identifier: LGPL-2.1-or-later
#include "server.hpp"

#include "admission.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

Error sysError(const std::string& what) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(errno));
}

int makeSocket(int family) {
    return ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

// True if something accepts connections on `path`.
bool socketAlive(const sockaddr_un& addr) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    bool alive = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return alive;
}

Result<void> makeParentDir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) {
        return success();
    }
    std::string dir = path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        return success();
    }
    if (auto r = makeParentDir(dir); !r) {
        return r;
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return sysError("cannot create " + dir);
    }
    return success();
}

} // namespace

Server::Server(EventLoop& loop, ServerLimits serverLimits, ClientLimits clientLimits)
    : m_loop(loop)
    , m_serverLimits(serverLimits)
    , m_limits(clientLimits)
    , m_budgets{InputBudget(serverLimits.maxBufferPerUid, serverLimits.maxBuffer),
                InputBudget(serverLimits.maxHeldFdsPerUid, serverLimits.maxHeldFds)} {}

Server::~Server() {
    // The dispatcher may be gone already, and the loop has stopped: nothing is notified or
    // deferred from here on.
    m_stopping = true;
    m_dispatcher = nullptr;
    m_reap.reset();
    for (auto& [id, client] : m_clients) {
        client->close("server shutting down");
    }
    m_clients.clear();
    for (auto& l : m_listeners) {
        l->source.reset();
        ::close(l->fd);
        if (!l->unlinkPath.empty()) {
            ::unlink(l->unlinkPath.c_str());
        }
    }
}

Result<void> Server::listenUnix(const std::string& path, bool readOnly) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return Error(Code::InvalidArgs, "socket path '" + path + "' is empty or too long");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (auto r = makeParentDir(path); !r) {
        return r;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return Error(Code::OperationFailed, path + " exists and is not a socket");
        }
        if (socketAlive(addr)) {
            return Error(Code::OperationFailed, "another server is listening on " + path);
        }
        ::unlink(path.c_str());
    }
    int fd = makeSocket(AF_UNIX);
    if (fd < 0) {
        return sysError("socket");
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        Error e = sysError("cannot bind " + path);
        ::close(fd);
        return e;
    }
    // polkit decides per operation; the read-only socket needs no protection at all.
    if (::chmod(path.c_str(), 0666) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        Error e = sysError("cannot listen on " + path);
        ::close(fd);
        ::unlink(path.c_str());
        return e;
    }
    return addListener(fd, readOnly, false, path);
}

Result<void> Server::listenTcp(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return Error(Code::InvalidArgs, "TCP address '" + address + "' is not HOST:PORT");
    }
    std::string host = address.substr(0, colon);
    std::string portText = address.substr(colon + 1);
    char* end = nullptr;
    unsigned long port = std::strtoul(portText.c_str(), &end, 10);
    if (portText.empty() || *end != '\0' || port == 0 || port > 65535) {
        return Error(Code::InvalidArgs, "bad TCP port in '" + address + "'");
    }
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family = AF_INET;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&storage);
        a6->sin6_family = family = AF_INET6;
        a6->sin6_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) {
            return Error(Code::InvalidArgs, "bad IPv6 address in '" + address + "'");
        }
        len = sizeof(sockaddr_in6);
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&storage);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
            return Error(Code::InvalidArgs, "bad IPv4 address in '" + address + "'");
        }
        len = sizeof(sockaddr_in);
    }
    int fd = makeSocket(family);
    if (fd < 0) {
        return sysError("socket");
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), len) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
        Error e = sysError("cannot listen on " + address);
        ::close(fd);
        return e;
    }
    return addListener(fd, true, true, {});
}

Result<void> Server::adoptListener(int fd, bool readOnly) {
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        return Error(Code::InvalidArgs,
                     "passed fd " + std::to_string(fd) + " is not a stream socket");
    }
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen);
    bool tcp = addr.ss_family != AF_UNIX;
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    return addListener(fd, readOnly || tcp, tcp, {});
}

Result<void> Server::addListener(int fd, bool readOnly, bool tcp, std::string unlinkPath) {
    auto listener = std::make_unique<Listener>();
    listener->fd = fd;
    listener->readOnly = readOnly;
    listener->tcp = tcp;
    listener->unlinkPath = std::move(unlinkPath);
    Listener* raw = listener.get();
    listener->source = m_loop.addIo(fd, EPOLLIN, [this, raw](uint32_t) { onAccept(*raw); });
    if (!listener->source) {
        ::close(fd);
        return Error(Code::Internal, "cannot watch a listening socket");
    }
    m_listeners.push_back(std::move(listener));
    return success();
}

void Server::onAccept(Listener& listener) {
    for (int i = 0; i < 64; ++i) {
        int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The pending connection stays pending and the socket stays readable:
                // without a pause this would spin. Try again a little later.
                log::warning(std::string("accept failed, pausing: ") + std::strerror(errno));
                pauseListener(listener);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                log::warning(std::string("accept failed: ") + std::strerror(errno));
            }
            return;
        }
        PeerIdentity peer = listener.tcp ? PeerIdentity{} : peerOf(fd);
        if (!admit(fd, peer)) {
            continue;
        }
        uint64_t id = m_nextId++;
        auto client = std::make_shared<Client>(m_loop, fd, id, listener.readOnly || listener.tcp,
                                               peer, m_limits, m_budgets, *this);
        m_clients.emplace(id, client);
        log::debug("accepted " + client->describe() +
                   (listener.readOnly ? " on a read-only socket" : ""));
        client->start();
    }
}

bool Server::admit(int fd, const PeerIdentity& peer) {
    // A scan rather than counters kept in step with every open and close: at most
    // maxClients entries, once per connection.
    ConnectionCounts counts;
    auto owner = peer.owner();
    for (const auto& [id, client] : m_clients) {
        if (client->closed()) {
            continue;
        }
        ++counts.all;
        if (client->peer().owner() == owner) {
            ++counts.sameOwner;
            counts.sameOwnerUnopened += client->opened() ? 0 : 1;
        }
    }
    auto why = refusal(m_serverLimits, owner, counts);
    if (!why) {
        return true;
    }
    // Closed at once: the refused peer sees the connection end, and the descriptor is
    // free again for the next one (root's, perhaps).
    log::debug("refusing a connection" +
               (owner ? " of uid " + std::to_string(*owner) : std::string(" without credentials")) +
               ": " + *why);
    ::close(fd);
    return false;
}

void Server::pauseListener(Listener& listener) {
    sd_event_source_set_enabled(listener.source.raw(), SD_EVENT_OFF);
    Listener* raw = &listener;
    listener.resume = m_loop.addTimer(std::chrono::milliseconds(200), [raw] {
        sd_event_source_set_enabled(raw->source.raw(), SD_EVENT_ON);
        raw->resume.reset();
    });
}

void Server::drain(std::chrono::milliseconds cap, std::function<void()> drained) {
    for (auto& l : m_listeners) {
        l->resume.reset();
        sd_event_source_set_enabled(l->source.raw(), SD_EVENT_OFF);
    }
    m_drainDeadline = std::chrono::steady_clock::now() + cap;
    m_drained = std::move(drained);
    checkDrained();
}

void Server::checkDrained() {
    bool idle = std::all_of(m_clients.begin(), m_clients.end(), [](const auto& entry) {
        return entry.second->closed() || entry.second->callsInFlight() == 0;
    });
    if (idle || std::chrono::steady_clock::now() >= m_drainDeadline) {
        m_drainCheck.reset();
        auto drained = std::move(m_drained);
        drained();
        return;
    }
    m_drainCheck = m_loop.addTimer(std::chrono::milliseconds(50), [this] { checkDrained(); });
}

std::vector<HandedListener> Server::releaseListeners() {
    std::vector<HandedListener> handed;
    for (auto& l : m_listeners) {
        l->source.reset();
        l->resume.reset();
        handed.push_back({l->fd, l->readOnly});
    }
    m_listeners.clear();
    return handed;
}

// How long each connection's output may take to drain before a re-exec.
constexpr std::chrono::milliseconds kHandOverFlush{500};

nlohmann::json Server::handOverClients(int parkingFd) {
    nlohmann::json handed = nlohmann::json::array();
    for (auto& [id, client] : m_clients) {
        if (auto state = client->handOver(parkingFd, kHandOverFlush)) {
            handed.push_back(std::move(*state));
        }
    }
    return handed;
}

int32_t Server::adoptClients(const nlohmann::json& clients) {
    int32_t lastCallbackId = 0;
    if (!clients.is_array()) {
        return lastCallbackId;
    }
    for (const auto& state : clients) {
        auto client = Client::adopt(m_loop, state, m_limits, m_budgets, *this);
        if (!client) {
            log::warning("a connection of the previous image is lost: " + client.error().message());
            continue;
        }
        auto& c = client.value();
        m_nextId = std::max(m_nextId, c->id() + 1);
        for (const auto& [callbackId, reg] : c->events()) {
            lastCallbackId = std::max(lastCallbackId, callbackId);
        }
        log::debug("took over " + c->describe() + " from the previous image");
        m_clients.emplace(c->id(), c);
    }
    return lastCallbackId;
}

bool Server::hasTcpListener() const {
    return std::any_of(m_listeners.begin(), m_listeners.end(),
                       [](const auto& l) { return l->tcp; });
}

void Server::forEachClient(const std::function<void(Client&)>& fn) {
    for (auto& [id, client] : m_clients) {
        if (!client->closed()) {
            fn(*client);
        }
    }
}

void Server::onFrame(const std::shared_ptr<Client>& client, Frame frame) {
    if (m_dispatcher != nullptr) {
        m_dispatcher->onFrame(client, std::move(frame));
    }
}

void Server::onClosed(Client& client) {
    if (m_stopping) {
        return;
    }
    // Not now: the client may be deep in its own call stack. A timer we own rather than
    // EventLoop::defer(), so nothing is left pending when the server goes away.
    m_closedIds.push_back(client.id());
    if (!m_reap) {
        m_reap = m_loop.addTimer(std::chrono::microseconds(0), [this] {
            auto ids = std::move(m_closedIds);
            m_closedIds.clear();
            m_reap.reset();
            for (uint64_t id : ids) {
                m_clients.erase(id);
            }
        });
    }
    if (m_dispatcher != nullptr) {
        m_dispatcher->onClosed(client);
    }
}

} // namespace virtswarm::bridge
