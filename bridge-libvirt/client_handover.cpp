// SPDX-License-Identifier: LGPL-2.1-or-later
// A client connection across a re-exec of proxyd: what the old image writes down about it
// and how the new one takes it up, so libvirt clients (virsh, virt-manager, libvirt-dbus)
// keep their connection, their event registrations, their console sessions and even a
// half-sent call.
#include "client.hpp"
#include "console_stream.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

std::string toHex(std::span<const uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0xf]);
    }
    return out;
}

Result<std::vector<uint8_t>> fromHex(const std::string& text) {
    auto digit = [](char c) -> int {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    if (text.size() % 2 != 0) {
        return Error(Code::InvalidArgs, "odd length of handed-over input");
    }
    std::vector<uint8_t> out;
    out.reserve(text.size() / 2);
    for (size_t i = 0; i < text.size(); i += 2) {
        int hi = digit(text[i]), lo = digit(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return Error(Code::InvalidArgs, "handed-over input is not hexadecimal");
        }
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return out;
}

nlohmann::json registrationState(int32_t callbackId, const EventRegistration& reg) {
    nlohmann::json state{
        {"id", callbackId}, {"kind", static_cast<int>(reg.kind)}, {"event", reg.eventId}};
    if (reg.only) {
        state["only"] = formatUuid(*reg.only);
    }
    if (reg.onlyName) {
        state["only-name"] = *reg.onlyName;
    }
    return state;
}

Result<std::pair<int32_t, EventRegistration>> registrationFrom(const nlohmann::json& state) {
    EventRegistration reg;
    int kind = state.at("kind").get<int>();
    if (kind < static_cast<int>(EventRegistration::Kind::Domain) ||
        kind > static_cast<int>(EventRegistration::Kind::Secret)) {
        return Error(Code::InvalidArgs, "unknown event kind " + std::to_string(kind));
    }
    reg.kind = static_cast<EventRegistration::Kind>(kind);
    reg.eventId = state.at("event").get<int32_t>();
    if (state.contains("only")) {
        auto uuid = parseUuid(state.at("only").get<std::string>());
        if (!uuid) {
            return uuid.takeError();
        }
        reg.only = uuid.value();
    }
    if (state.contains("only-name")) {
        reg.onlyName = state.at("only-name").get<std::string>();
    }
    return std::make_pair(state.at("id").get<int32_t>(), std::move(reg));
}

// The console sessions a connection had: served again on the descriptors handed over.
// Each descriptor named is this image's: one that cannot be taken up is closed.
Result<void> adoptStreams(EventLoop& loop, const std::shared_ptr<Client>& client,
                          const nlohmann::json& streams) {
    Result<void> result = success();
    for (const auto& entry : streams) {
        int fd = entry.value("fd", -1);
        auto pending = fromHex(entry.value("pending", std::string()));
        if (!result || entry.value("kind", std::string()) != "console" || !pending) {
            if (fd >= 0) {
                ::close(fd);
            }
            if (result) {
                result = Error(Code::InvalidArgs, "a handed-over stream cannot be taken up");
            }
            continue;
        }
        Header call;
        call.program = proto::kRemoteProgram;
        call.version = proto::kProtocolVersion;
        call.procedure = entry.value("procedure", 0);
        call.type = static_cast<uint32_t>(proto::MessageType::Call);
        call.serial = entry.value("serial", 0u);
        call.status = static_cast<uint32_t>(proto::MessageStatus::Ok);
        ConsoleStream::adopt(loop, client, call, fd, std::move(pending).value());
    }
    return result;
}

} // namespace

PeerIdentity peerOf(int fd) {
    int domain = 0;
    socklen_t length = sizeof domain;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0 || domain != AF_UNIX) {
        return {};
    }
    ucred cred{};
    length = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
        return {};
    }
    return PeerIdentity{true, cred.pid, cred.uid, cred.gid};
}

bool Client::drainOutput(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        flush();
        if (closed() || m_out.empty()) {
            return !closed();
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{m_fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
            return false;
        }
    }
}

std::optional<nlohmann::json> Client::handOver(int parkingFd, std::chrono::milliseconds flushFor) {
    if (closed()) {
        return std::nullopt;
    }
    bool streamsGoOn = std::all_of(m_streams.begin(), m_streams.end(),
                                   [](const auto& entry) { return entry.second->canHandOver(); });
    const char* why = m_eof                    ? "it hung up"
                      : !streamsGoOn           ? "a stream is open that cannot go on"
                      : m_pending > 0          ? "a call is unanswered"
                      : !m_inFds.empty()       ? "descriptors wait for their message"
                      : !drainOutput(flushFor) ? "its output does not drain"
                                               : nullptr;
    // The descriptor goes out of the way of the listening sockets' numbers (3, 4, ...),
    // without close-on-exec.
    int parked = why == nullptr ? ::fcntl(m_fd, F_DUPFD, parkingFd) : -1;
    if (why == nullptr && parked < 0) {
        why = "its socket cannot be kept";
    }
    if (why != nullptr) {
        close(std::string("not kept across the re-exec: ") + why);
        return std::nullopt;
    }
    nlohmann::json events = nlohmann::json::array();
    for (const auto& [callbackId, reg] : m_events) {
        events.push_back(registrationState(callbackId, reg));
    }
    nlohmann::json streams = nlohmann::json::array();
    for (auto& [serial, stream] : m_streams) {
        if (auto handed = stream->handOver(parkingFd)) {
            streams.push_back({{"serial", serial},
                               {"kind", handed->kind},
                               {"procedure", handed->procedure},
                               {"fd", handed->fd},
                               {"pending", toHex(handed->pending)}});
        }
    }
    m_streams.clear();
    nlohmann::json state{{"fd", parked},
                         {"id", m_id},
                         {"read-only-socket", m_readOnlySocket},
                         {"opened", m_opened},
                         {"uri", m_uri},
                         {"read-only", m_readOnly},
                         {"libvirt-manage", m_libvirtManage},
                         {"events", std::move(events)},
                         {"streams", std::move(streams)},
                         {"input", toHex(m_parser.unconsumed())}};
    log::debug(describe() + " handed over to the next image");
    // This image lets go of the connection without closing it for the peer.
    m_io.reset();
    m_resume.reset();
    m_openDeadline.reset();
    ::close(m_fd);
    m_fd = -1;
    return state;
}

Result<std::shared_ptr<Client>> Client::adopt(EventLoop& loop, const nlohmann::json& state,
                                              ClientLimits limits, InputBudgets& budgets,
                                              Sink& sink) {
    // The descriptor is this image's from here on: closed on every failure (by the client,
    // once there is one).
    int fd = state.is_object() && state.contains("fd") && state["fd"].is_number_integer()
                 ? state["fd"].get<int>()
                 : -1;
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        if (fd >= 0) {
            ::close(fd);
        }
        return Error(Code::InvalidArgs,
                     "handed-over descriptor " + std::to_string(fd) + " is not a socket");
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::shared_ptr<Client> client;
    try {
        uint64_t id = state.at("id").get<uint64_t>();
        bool readOnlySocket = state.at("read-only-socket").get<bool>();
        client = std::make_shared<Client>(loop, fd, id, readOnlySocket, peerOf(fd), limits, budgets,
                                          sink);
        if (state.at("opened").get<bool>()) {
            client->open(state.at("uri").get<std::string>(), state.at("read-only").get<bool>());
        }
        client->m_libvirtManage = state.at("libvirt-manage").get<bool>();
        for (const auto& entry : state.at("events")) {
            auto reg = registrationFrom(entry);
            if (!reg) {
                return reg.takeError();
            }
            client->m_events.insert(std::move(reg).value());
        }
        auto input = fromHex(state.at("input").get<std::string>());
        if (!input) {
            return input.takeError();
        }
        client->start();
        if (auto r = adoptStreams(loop, client, state.value("streams", nlohmann::json::array()));
            !r) {
            return r.takeError();
        }
        if (!input.value().empty()) {
            client->m_parser.feed(input.value());
            if (!client->claimInput()) {
                return Error(Code::LimitsExceeded, "handed-over input exceeds the budget");
            }
            // Frames that were complete already are not announced by the socket again.
            client->scheduleResume();
        }
        return client;
    } catch (const nlohmann::json::exception& e) {
        if (!client) {
            ::close(fd);
        }
        return Error(Code::InvalidArgs, std::string("handed-over client: ") + e.what());
    }
}

} // namespace virtswarm::bridge
