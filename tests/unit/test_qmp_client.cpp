// SPDX-License-Identifier: LGPL-2.1-or-later
#include "loop_driver.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/qmp_client.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>
#include <vector>

namespace virtswarm::qmp {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const json kGreeting = json::parse(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2,
    "major": 7}, "package": ""}, "capabilities": ["oob"]}})");

// The monitor side of a socketpair, scripted by the test and served by the same loop.
// It answers qmp_capabilities itself unless told otherwise; every other command is
// recorded and handed to onCommand.
class FakePeer {
public:
    FakePeer(EventLoop& loop, int fd)
        : m_fd(fd) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        m_io = loop.addIo(fd, EPOLLIN, [this](uint32_t revents) { onIo(revents); });
    }
    ~FakePeer() {
        m_io.reset();
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        for (const auto& received : receivedFds) {
            ::close(received.second);
        }
    }

    void send(const std::string& data) {
        m_out += data;
        update();
    }
    void sendJson(const json& message) { send(message.dump() + "\r\n"); }
    void greet() { sendJson(kGreeting); }
    void reply(const json& command, const json& value) {
        sendJson({{"return", value}, {"id", command["id"]}});
    }
    // Stops taking input without closing: the client's writes fail (EPIPE), its reads
    // see nothing.
    void refuseInput() { ::shutdown(m_fd, SHUT_RD); }
    void hangUp() {
        m_io.reset();
        ::close(m_fd);
        m_fd = -1;
    }
    // A monitor that stopped reading: its socket buffer fills up.
    void stopReading() {
        m_reading = false;
        update();
    }
    bool flushed() const { return m_outOffset == m_out.size(); }

    bool answerCapabilities = true;
    std::function<void(const json&)> onCommand;
    std::vector<json> commands;
    // Where in the byte stream each of `commands` began, and where each descriptor
    // arrived (SCM_RIGHTS on the byte at that offset).
    std::vector<size_t> commandOffsets;
    std::vector<std::pair<size_t, int>> receivedFds;
    size_t written = 0;
    bool writeFailed = false;
    bool sawEof = false;

private:
    void update() {
        if (m_io) {
            uint32_t events = (m_reading ? EPOLLIN : 0u) | (flushed() ? 0u : EPOLLOUT);
            sd_event_source_set_io_events(m_io.raw(), events);
        }
    }

    void onIo(uint32_t revents) {
        if ((revents & EPOLLOUT) != 0) {
            flush();
        }
        if (m_io && m_reading && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
            readLines();
        }
    }

    void flush() {
        while (!flushed()) {
            ssize_t n =
                ::send(m_fd, m_out.data() + m_outOffset, m_out.size() - m_outOffset, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) {
                    break;
                }
                writeFailed = true;
                m_io.reset();
                return;
            }
            m_outOffset += static_cast<size_t>(n);
            written += static_cast<size_t>(n);
        }
        update();
    }

    void readLines() {
        char buffer[4096];
        iovec iov{buffer, sizeof(buffer)};
        alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t n = ::recvmsg(m_fd, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                sawEof = true;
                m_io.reset();
            }
            return;
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < count; ++i) {
                    int fd;
                    std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                    receivedFds.emplace_back(m_readTotal, fd);
                }
            }
        }
        m_readTotal += static_cast<size_t>(n);
        m_in.append(buffer, static_cast<size_t>(n));
        size_t newline;
        while ((newline = m_in.find('\n')) != std::string::npos) {
            json command = json::parse(m_in.substr(0, newline));
            size_t offset = m_readTotal - m_in.size();
            m_in.erase(0, newline + 1);
            if (answerCapabilities && command["execute"] == "qmp_capabilities") {
                reply(command, json::object());
                continue;
            }
            commands.push_back(command);
            commandOffsets.push_back(offset);
            if (onCommand) {
                onCommand(command);
            }
        }
    }

    int m_fd;
    EventSource m_io;
    bool m_reading = true;
    std::string m_in;
    size_t m_readTotal = 0;
    std::string m_out;
    size_t m_outOffset = 0;
};

// Records what a callback got; `calls` catches double delivery.
template <typename T> struct Outcome {
    int calls = 0;
    std::optional<T> result;

    auto callback() {
        return [this](T r) {
            ++calls;
            result.emplace(std::move(r));
        };
    }
    bool done() const { return calls > 0; }
    bool ok() const { return result && result->ok(); }
    // Empty while pending or on success, so a wrong outcome fails the check instead of
    // tripping an assertion.
    std::optional<Code> code() const {
        if (!result || result->ok()) {
            return std::nullopt;
        }
        return result->error().code();
    }
};
using ReplyOutcome = Outcome<Result<json>>;
using ReadyOutcome = Outcome<Result<void>>;

class QmpClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = EventLoop::create();
        ASSERT_TRUE(created.ok());
        loop = std::move(created).value();
        int fds[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        clientFd = fds[0];
        peer = std::make_unique<FakePeer>(*loop, fds[1]);
    }

    // Runs the loop until `done` holds; false if the deadline passed first.
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
        return testing_loop::runUntil(*loop, done, limit);
    }

    void settle() { testing_loop::settle(*loop); }

    std::unique_ptr<Client> makeClient(Limits limits = {}) {
        auto client = std::make_unique<Client>(*loop, limits);
        client->onClosed([this](const Error& why) {
            ++closedCalls;
            closedError.emplace(why);
        });
        return client;
    }

    // A client that completed the handshake with the peer.
    std::unique_ptr<Client> readyClient(Limits limits = {}) {
        auto client = makeClient(limits);
        ReadyOutcome ready;
        client->start(clientFd, ready.callback());
        peer->greet();
        EXPECT_TRUE(runUntil([&] { return ready.done(); }));
        EXPECT_TRUE(ready.ok());
        EXPECT_TRUE(client->connected());
        return client;
    }

    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<FakePeer> peer;
    int clientFd = -1;
    int closedCalls = 0;
    std::optional<Error> closedError;
};

TEST_F(QmpClientTest, HandshakeNegotiatesCapabilities) {
    auto client = makeClient();
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    EXPECT_FALSE(ready.done()) << "never called back from inside start()";
    peer->answerCapabilities = false;
    peer->onCommand = [&](const json& command) {
        EXPECT_EQ(command["execute"], "qmp_capabilities");
        EXPECT_FALSE(ready.done()) << "not ready before the capabilities reply";
        peer->reply(command, json::object());
    };
    peer->greet();
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_TRUE(ready.ok());
    EXPECT_EQ(ready.calls, 1);
    EXPECT_TRUE(client->connected());
    EXPECT_EQ(client->greeting()["version"]["qemu"]["major"], 7);
    ASSERT_EQ(peer->commands.size(), 1u);
}

TEST_F(QmpClientTest, HandshakeRequiresGreetingFirst) {
    auto client = makeClient();
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    peer->sendJson({{"return", json::object()}});
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_EQ(ready.code(), Code::Internal);
    EXPECT_FALSE(client->connected());
    EXPECT_EQ(closedCalls, 0) << "handshake failures go to the ready callback only";
}

TEST_F(QmpClientTest, HandshakeTimesOutOnSilentMonitor) {
    Limits limits;
    limits.defaultTimeout = 100ms;
    auto client = makeClient(limits);
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_EQ(ready.code(), Code::Timeout);
    EXPECT_FALSE(client->connected());
    ASSERT_TRUE(runUntil([&] { return peer->sawEof; }));
}

TEST_F(QmpClientTest, HandshakeFailsWhenMonitorHangsUp) {
    auto client = makeClient();
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    peer->hangUp();
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_EQ(ready.code(), Code::HypervisorGone);
    EXPECT_FALSE(client->connected());
    settle();
    EXPECT_EQ(ready.calls, 1);
    EXPECT_EQ(closedCalls, 0);
}

TEST_F(QmpClientTest, HandshakeFailsOnCapabilitiesError) {
    auto client = makeClient();
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    peer->answerCapabilities = false;
    peer->onCommand = [&](const json& command) {
        peer->sendJson(
            {{"error", {{"class", "GenericError"}, {"desc", "nope"}}}, {"id", command["id"]}});
    };
    peer->greet();
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_EQ(ready.code(), Code::OperationFailed);
    EXPECT_NE(ready.result->error().message().find("GenericError: nope"), std::string::npos);
}

TEST_F(QmpClientTest, ExecuteReturnsTheReturnValue) {
    auto client = readyClient();
    peer->onCommand = [&](const json& command) {
        if (command["execute"] == "query-status") {
            EXPECT_FALSE(command.contains("arguments"));
            peer->reply(command, {{"status", "running"}, {"running", true}});
        } else {
            EXPECT_EQ(command["arguments"]["keys"][0]["data"], "a");
            peer->reply(command, json::object());
        }
    };
    ReplyOutcome status;
    ReplyOutcome sendKey;
    client->execute("query-status", nullptr, status.callback());
    client->execute("send-key", json::parse(R"({"keys": [{"type": "qcode", "data": "a"}]})"),
                    sendKey.callback());
    EXPECT_FALSE(status.done());
    ASSERT_TRUE(runUntil([&] { return status.done() && sendKey.done(); }));
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status.result->value()["status"], "running");
    EXPECT_TRUE(sendKey.ok());
    EXPECT_EQ(status.calls, 1);
}

TEST_F(QmpClientTest, DescriptorTravelsWithItsCommand) {
    auto client = readyClient();
    peer->onCommand = [&](const json& command) { peer->reply(command, json::object()); };
    int first[2];
    int second[2];
    ASSERT_EQ(pipe2(first, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(second, O_CLOEXEC), 0);
    ReplyOutcome a;
    ReplyOutcome plain;
    ReplyOutcome b;
    // Queued back to back, so the client has to split its sends at the descriptors.
    client->executeWithFd("getfd", {{"fdname", "a"}}, first[1], a.callback());
    client->execute("query-status", nullptr, plain.callback());
    client->executeWithFd("getfd", {{"fdname", "b"}}, second[1], b.callback());
    // The caller keeps its descriptors.
    ::close(first[1]);
    ::close(second[1]);
    ASSERT_TRUE(runUntil([&] { return a.done() && plain.done() && b.done(); }));
    EXPECT_TRUE(a.ok() && plain.ok() && b.ok());
    ASSERT_EQ(peer->commands.size(), 3u);
    ASSERT_EQ(peer->receivedFds.size(), 2u);
    EXPECT_EQ(peer->receivedFds[0].first, peer->commandOffsets[0]);
    EXPECT_EQ(peer->receivedFds[1].first, peer->commandOffsets[2]);
    // Each is the write end of its own pipe: what is written arrives at that pipe's reader.
    ASSERT_EQ(::write(peer->receivedFds[0].second, "1", 1), 1);
    ASSERT_EQ(::write(peer->receivedFds[1].second, "2", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(first[0], &c, 1), 1);
    EXPECT_EQ(c, '1');
    ASSERT_EQ(::read(second[0], &c, 1), 1);
    EXPECT_EQ(c, '2');
    ::close(first[0]);
    ::close(second[0]);
}

TEST_F(QmpClientTest, DescriptorsQueuedWhenTheMonitorDiesAreClosed) {
    auto client = readyClient();
    int ends[2];
    ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
    peer->stopReading();
    ReplyOutcome filler;
    // Enough output that the socket fills and the getfd stays queued in the client.
    std::string big(600 * 1024, 'x');
    client->execute("human-monitor-command", {{"command-line", big}}, filler.callback());
    ReplyOutcome withFd;
    client->executeWithFd("getfd", {{"fdname", "a"}}, ends[1], withFd.callback());
    ::close(ends[1]);
    settle();
    peer->hangUp();
    ASSERT_TRUE(runUntil([&] { return withFd.done(); }));
    EXPECT_EQ(withFd.code(), Code::HypervisorGone);
    // No copy of the write end is left anywhere: the reader sees end of file.
    char c;
    EXPECT_EQ(::read(ends[0], &c, 1), 0);
    ::close(ends[0]);
}

TEST_F(QmpClientTest, ExecuteWithoutADescriptorIsInvalid) {
    auto client = readyClient();
    ReplyOutcome r;
    client->executeWithFd("getfd", {{"fdname", "a"}}, -1, r.callback());
    ASSERT_TRUE(runUntil([&] { return r.done(); }));
    EXPECT_EQ(r.code(), Code::InvalidArgs);
    EXPECT_TRUE(peer->commands.empty());
}

TEST_F(QmpClientTest, ErrorReplyIsOperationFailed) {
    auto client = readyClient();
    peer->onCommand = [&](const json& command) {
        peer->sendJson({{"error", {{"class", "DeviceNotFound"}, {"desc", "no disk 'x'"}}},
                        {"id", command["id"]}});
    };
    ReplyOutcome outcome;
    client->execute("eject", {{"id", "x"}}, outcome.callback());
    ASSERT_TRUE(runUntil([&] { return outcome.done(); }));
    EXPECT_EQ(outcome.code(), Code::OperationFailed);
    EXPECT_EQ(outcome.result->error().message(), "DeviceNotFound: no disk 'x'");
    EXPECT_TRUE(client->connected());
}

TEST_F(QmpClientTest, NonObjectArgumentsAreRejected) {
    auto client = readyClient();
    ReplyOutcome outcome;
    client->execute("stop", json::array({1}), outcome.callback());
    EXPECT_FALSE(outcome.done());
    ASSERT_TRUE(runUntil([&] { return outcome.done(); }));
    EXPECT_EQ(outcome.code(), Code::InvalidArgs);
    EXPECT_TRUE(peer->commands.empty());
}

TEST_F(QmpClientTest, EventsAreDelivered) {
    auto client = readyClient();
    std::vector<std::pair<std::string, json>> events;
    client->onEvent(
        [&](const std::string& name, const json& data) { events.emplace_back(name, data); });
    peer->sendJson({{"event", "STOP"},
                    {"timestamp", {{"seconds", 1}, {"microseconds", 2}}},
                    {"data", {{"reason", "pause"}}}});
    peer->sendJson({{"event", "RESUME"}, {"timestamp", {{"seconds", 1}, {"microseconds", 3}}}});
    ASSERT_TRUE(runUntil([&] { return events.size() == 2; }));
    EXPECT_EQ(events[0].first, "STOP");
    EXPECT_EQ(events[0].second["reason"], "pause");
    EXPECT_EQ(events[1].first, "RESUME");
    EXPECT_TRUE(events[1].second.is_object());
    EXPECT_TRUE(events[1].second.empty());
}

TEST_F(QmpClientTest, RepliesMatchedByIdAndUnknownIdsIgnored) {
    auto client = readyClient();
    std::vector<json> held;
    peer->onCommand = [&](const json& command) {
        held.push_back(command);
        if (held.size() < 2) {
            return;
        }
        // Second answer first, with noise around it that nothing waits for.
        peer->sendJson({{"return", "stray"}, {"id", 999999}});
        peer->sendJson({{"return", "no id"}});
        peer->sendJson({{"return", "string id"}, {"id", "1"}});
        peer->sendJson({{"error", {{"class", "GenericError"}, {"desc", "JSON parse error"}}}});
        peer->reply(held[1], "second");
        peer->reply(held[0], "first");
    };
    ReplyOutcome first;
    ReplyOutcome second;
    client->execute("a", nullptr, first.callback());
    client->execute("b", nullptr, second.callback());
    ASSERT_TRUE(runUntil([&] { return first.done() && second.done(); }));
    EXPECT_EQ(first.result->value(), "first");
    EXPECT_EQ(second.result->value(), "second");
    EXPECT_EQ(first.calls, 1);
    EXPECT_EQ(second.calls, 1);
    EXPECT_TRUE(client->connected());
    EXPECT_EQ(closedCalls, 0);
}

TEST_F(QmpClientTest, TimeoutThenLateReplyIgnoredAndLaterCommandWorks) {
    auto client = readyClient();
    std::optional<json> unanswered;
    peer->onCommand = [&](const json& command) {
        if (!unanswered) {
            unanswered = command; // a stopped QEMU: no answer for now
            return;
        }
        // Resumed: the old answer arrives first, then the new one.
        peer->reply(*unanswered, "late");
        peer->reply(command, "fresh");
    };
    ReplyOutcome stale;
    client->execute("query-status", nullptr, stale.callback(), 50ms);
    ASSERT_TRUE(runUntil([&] { return stale.done(); }));
    EXPECT_EQ(stale.code(), Code::Timeout);
    EXPECT_TRUE(client->connected());

    ReplyOutcome fresh;
    client->execute("query-status", nullptr, fresh.callback());
    ASSERT_TRUE(runUntil([&] { return fresh.done(); }));
    EXPECT_EQ(fresh.result->value(), "fresh");
    EXPECT_EQ(stale.calls, 1) << "the late reply must not reach the timed-out command";
    EXPECT_EQ(closedCalls, 0);
}

class QmpProtocolViolation : public QmpClientTest,
                             public ::testing::WithParamInterface<std::string> {};

TEST_P(QmpProtocolViolation, ClosesAndFailsEverything) {
    auto client = readyClient();
    ReplyOutcome pending;
    client->execute("query-status", nullptr, pending.callback());
    std::vector<std::string> events;
    client->onEvent([&](const std::string& name, const json&) { events.push_back(name); });
    peer->onCommand = [&](const json&) {
        // Whatever follows the bad line must not be looked at.
        peer->send(GetParam() + "\n" + R"({"event": "AFTER"})" + "\n");
    };
    ASSERT_TRUE(runUntil([&] { return pending.done() && closedCalls > 0; }));
    EXPECT_EQ(pending.code(), Code::Internal);
    EXPECT_EQ(closedError->code(), Code::Internal);
    EXPECT_FALSE(client->connected());
    ASSERT_TRUE(runUntil([&] { return peer->sawEof; }));
    settle();
    EXPECT_EQ(closedCalls, 1);
    EXPECT_EQ(pending.calls, 1);
    EXPECT_TRUE(events.empty());
}

INSTANTIATE_TEST_SUITE_P(Garbage, QmpProtocolViolation,
                         ::testing::Values("this is not json", R"({"return": {}} trailing)",
                                           "[1, 2, 3]", "42", R"({"unexpected": true})",
                                           R"({"event": 5})", R"({"event": "X", "data": [1]})",
                                           R"({"error": "boom", "id": 2})",
                                           R"({"error": {"class": "GenericError"}, "id": 2})",
                                           R"({"QMP": {"version": {}}})",
                                           std::string(100000, '[') + "1",
                                           "{\"return\": \"\xff\xfe\", \"id\": 2}"));

TEST_F(QmpClientTest, OverlongLineClosesWithBoundedMemory) {
    auto client = readyClient();
    ReplyOutcome pending;
    client->execute("query-status", nullptr, pending.callback());
    const size_t total = 2 * 1024 * 1024;
    peer->send(R"({"return": ")" + std::string(total, 'x'));
    ASSERT_TRUE(runUntil([&] { return closedCalls > 0 && pending.done(); }));
    EXPECT_EQ(closedError->code(), Code::Internal);
    EXPECT_NE(closedError->message().find("exceeds"), std::string::npos);
    EXPECT_EQ(pending.code(), Code::Internal);
    // The client stopped reading after about maxLineBytes, so the peer could never get
    // the whole line out: it was not buffered.
    ASSERT_TRUE(runUntil([&] { return peer->writeFailed || peer->sawEof; }));
    EXPECT_LT(peer->written, total);
}

TEST_F(QmpClientTest, EofFailsPendingWithHypervisorGone) {
    auto client = readyClient();
    ReplyOutcome first;
    ReplyOutcome second;
    client->execute("a", nullptr, first.callback());
    client->execute("b", nullptr, second.callback());
    ASSERT_TRUE(runUntil([&] { return peer->commands.size() == 2; }));
    peer->hangUp();
    ASSERT_TRUE(runUntil([&] { return closedCalls > 0; }));
    EXPECT_EQ(first.code(), Code::HypervisorGone);
    EXPECT_EQ(second.code(), Code::HypervisorGone);
    EXPECT_EQ(closedError->code(), Code::HypervisorGone);
    EXPECT_FALSE(client->connected());
    settle();
    EXPECT_EQ(closedCalls, 1);

    ReplyOutcome afterwards;
    client->execute("c", nullptr, afterwards.callback());
    ASSERT_TRUE(runUntil([&] { return afterwards.done(); }));
    EXPECT_EQ(afterwards.code(), Code::HypervisorGone);
}

TEST_F(QmpClientTest, RepliesBeforeEofAreStillDelivered) {
    auto client = readyClient();
    ReplyOutcome quit;
    peer->onCommand = [&](const json& command) {
        peer->reply(command, json::object());
        peer->sendJson({{"event", "SHUTDOWN"}, {"data", {{"guest", false}}}});
    };
    client->execute("quit", nullptr, quit.callback());
    ASSERT_TRUE(runUntil([&] { return quit.done() && peer->flushed(); }));
    peer->hangUp();
    ASSERT_TRUE(runUntil([&] { return closedCalls > 0; }));
    EXPECT_TRUE(quit.ok());
}

TEST_F(QmpClientTest, EventFloodIsRateLimitedAndLoopStaysResponsive) {
    Limits limits;
    limits.maxEventsPerSecond = 1000;
    auto client = readyClient(limits);
    size_t delivered = 0;
    client->onEvent([&](const std::string&, const json&) { ++delivered; });

    const size_t flood = 50000;
    std::string burst;
    for (size_t i = 0; i < flood; ++i) {
        burst += R"({"event": "BLOCK_IO_ERROR", "data": {"device": "d", "operation": "read", )"
                 R"("action": "report"}, "timestamp": {"seconds": 1, "microseconds": 2}})"
                 "\r\n";
    }
    peer->send(burst);
    size_t seenWhenTimerFired = 0;
    bool timerFired = false;
    EventSource probe = loop->addTimer(0us, [&] {
        timerFired = true;
        seenWhenTimerFired = delivered + client->droppedEvents();
    });
    auto seen = [&] { return delivered + client->droppedEvents(); };
    ASSERT_TRUE(runUntil([&] { return seen() == flood; }, 60s));
    EXPECT_TRUE(timerFired);
    EXPECT_LT(seenWhenTimerFired, flood) << "a timer must run while the flood is processed";
    EXPECT_GT(client->droppedEvents(), 0u);
    EXPECT_GT(delivered, 0u);

    ReplyOutcome after;
    peer->onCommand = [&](const json& command) { peer->reply(command, "still here"); };
    client->execute("query-status", nullptr, after.callback());
    ASSERT_TRUE(runUntil([&] { return after.done(); }));
    EXPECT_EQ(after.result->value(), "still here");
    EXPECT_TRUE(client->connected());
}

TEST_F(QmpClientTest, TooManyPendingCommandsFailImmediately) {
    Limits limits;
    limits.maxPendingCommands = 3;
    auto client = readyClient(limits);
    std::vector<ReplyOutcome> outcomes(4);
    for (auto& outcome : outcomes) {
        client->execute("query-status", nullptr, outcome.callback());
    }
    ASSERT_TRUE(runUntil([&] { return outcomes[3].done(); }));
    EXPECT_EQ(outcomes[3].code(), Code::Internal);
    ASSERT_TRUE(runUntil([&] { return peer->commands.size() == 3; }));
    for (const auto& command : peer->commands) {
        peer->reply(command, "ok");
    }
    ASSERT_TRUE(runUntil([&] { return outcomes[2].done(); }));
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(outcomes[static_cast<size_t>(i)].ok());
    }
    ReplyOutcome again;
    peer->onCommand = [&](const json& command) { peer->reply(command, "ok"); };
    client->execute("query-status", nullptr, again.callback());
    ASSERT_TRUE(runUntil([&] { return again.done(); }));
    EXPECT_TRUE(again.ok());
}

TEST_F(QmpClientTest, MonitorThatStopsReadingBoundsTheOutputQueue) {
    Limits limits;
    limits.maxQueuedOutputBytes = 64 * 1024;
    auto client = readyClient(limits);
    peer->stopReading();
    std::vector<ReplyOutcome> outcomes(60);
    std::string filler(16 * 1024, 'x');
    std::optional<size_t> refused;
    for (size_t i = 0; i < outcomes.size() && !refused; ++i) {
        client->execute("human-monitor-command", {{"command-line", filler}}, outcomes[i].callback(),
                        60s);
        settle();
        if (outcomes[i].done()) {
            refused = i;
        }
    }
    ASSERT_TRUE(refused.has_value()) << "the queue must not grow without bound";
    EXPECT_EQ(outcomes[*refused].code(), Code::Timeout);
    EXPECT_TRUE(client->connected());
}

TEST_F(QmpClientTest, CloseFailsPendingLaterWithoutClosedHandler) {
    auto client = readyClient();
    ReplyOutcome pending;
    client->execute("query-status", nullptr, pending.callback());
    client->close();
    EXPECT_FALSE(client->connected());
    EXPECT_FALSE(pending.done()) << "never called back from inside close()";
    ASSERT_TRUE(runUntil([&] { return pending.done(); }));
    EXPECT_EQ(pending.code(), Code::HypervisorGone);
    ASSERT_TRUE(runUntil([&] { return peer->sawEof; }));
    settle();
    EXPECT_EQ(closedCalls, 0);
}

TEST_F(QmpClientTest, ExecuteBeforeStartFails) {
    auto client = makeClient();
    ReplyOutcome outcome;
    client->execute("query-status", nullptr, outcome.callback());
    ASSERT_TRUE(runUntil([&] { return outcome.done(); }));
    EXPECT_EQ(outcome.code(), Code::HypervisorGone);
    ::close(clientFd);
}

TEST_F(QmpClientTest, DestroyingWithPendingCommandsDropsTheirCallbacks) {
    auto client = readyClient();
    ReplyOutcome pending;
    ReplyOutcome refused;
    client->execute("query-status", nullptr, pending.callback(), 10ms);
    client->execute("query-status", json::array(), refused.callback());
    client.reset();
    bool later = false;
    EventSource timer = loop->addTimer(50ms, [&] { later = true; });
    ASSERT_TRUE(runUntil([&] { return later; }));
    settle();
    EXPECT_FALSE(pending.done());
    EXPECT_FALSE(refused.done());
}

TEST_F(QmpClientTest, ClosedHandlerMayDestroyTheClient) {
    auto client = readyClient();
    client->onClosed([&](const Error&) {
        ++closedCalls;
        client.reset();
    });
    ReplyOutcome pending;
    client->execute("query-status", nullptr, pending.callback());
    ASSERT_TRUE(runUntil([&] { return peer->commands.size() == 1; }));
    peer->send("garbage\n");
    ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
    EXPECT_EQ(pending.code(), Code::Internal);
    settle();
    EXPECT_EQ(closedCalls, 1);
}

TEST_F(QmpClientTest, ReplyCallbackMayDestroyTheClientWithMoreInputBuffered) {
    auto client = readyClient();
    int events = 0;
    client->onEvent([&](const std::string&, const json&) { ++events; });
    ReplyOutcome other;
    bool destroyed = false;
    peer->onCommand = [&](const json& command) {
        if (peer->commands.size() < 2) {
            return;
        }
        // One write: the reply that destroys the client, then more for it to process.
        peer->send(json({{"return", "bye"}, {"id", command["id"]}}).dump() + "\n" +
                   R"({"event": "STOP"})" + "\n" +
                   json({{"return", 1}, {"id", peer->commands[0]["id"]}}).dump() + "\n");
    };
    client->execute("a", nullptr, other.callback());
    client->execute("b", nullptr, [&](Result<json> result) {
        EXPECT_TRUE(result.ok());
        client.reset();
        destroyed = true;
    });
    ASSERT_TRUE(runUntil([&] { return destroyed; }));
    settle();
    EXPECT_EQ(events, 0);
    EXPECT_FALSE(other.done());
    EXPECT_EQ(closedCalls, 0);
}

TEST_F(QmpClientTest, PendingFailureCallbackMayDestroyTheClient) {
    auto client = readyClient();
    ReplyOutcome second;
    int firstCalls = 0;
    client->execute("a", nullptr, [&](Result<json> result) {
        ++firstCalls;
        EXPECT_EQ(result.error().code(), Code::HypervisorGone);
        client.reset();
    });
    client->execute("b", nullptr, second.callback());
    ASSERT_TRUE(runUntil([&] { return peer->commands.size() == 2; }));
    peer->hangUp();
    ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
    settle();
    EXPECT_EQ(firstCalls, 1);
    EXPECT_FALSE(second.done()) << "dropped with the client, like on destruction";
    EXPECT_EQ(closedCalls, 0);
}

TEST_F(QmpClientTest, WriteFailureCallbackMayDestroyTheClient) {
    auto client = readyClient();
    settle();
    peer->refuseInput();
    int calls = 0;
    int ends[2];
    ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
    // With a descriptor queued behind it, which must be closed, not sent or leaked.
    client->execute("a", nullptr, [&](Result<json> result) {
        ++calls;
        EXPECT_EQ(result.error().code(), Code::HypervisorGone);
        client.reset();
    });
    client->executeWithFd("getfd", {{"fdname", "x"}}, ends[1], [](Result<json>) {});
    ::close(ends[1]);
    ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
    settle();
    EXPECT_EQ(calls, 1);
    char c;
    EXPECT_EQ(::read(ends[0], &c, 1), 0);
    ::close(ends[0]);
}

TEST_F(QmpClientTest, EventHandlerMayDestroyTheClient) {
    auto client = readyClient();
    int events = 0;
    client->onEvent([&](const std::string&, const json&) {
        ++events;
        client.reset();
    });
    peer->send(std::string(R"({"event": "A"})") + "\n" + R"({"event": "B"})" + "\n");
    ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
    settle();
    EXPECT_EQ(events, 1);
}

TEST_F(QmpClientTest, ReadyCallbackMayDestroyTheClient) {
    auto client = makeClient();
    client->start(clientFd, [&](Result<void> result) {
        EXPECT_TRUE(result.ok());
        client.reset();
    });
    peer->greet();
    peer->send(std::string(R"({"event": "A"})") + "\n");
    ASSERT_TRUE(runUntil([&] { return client == nullptr; }));
    settle();
}

TEST_F(QmpClientTest, ClientCanStartAgainAfterClose) {
    auto client = readyClient();
    client->close();
    peer.reset();
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer = std::make_unique<FakePeer>(*loop, fds[1]);
    peer->onCommand = [&](const json& command) { peer->reply(command, "again"); };
    ReadyOutcome ready;
    client->start(fds[0], ready.callback());
    peer->greet();
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    ASSERT_TRUE(ready.ok());
    ReplyOutcome outcome;
    client->execute("query-status", nullptr, outcome.callback());
    ASSERT_TRUE(runUntil([&] { return outcome.done(); }));
    EXPECT_EQ(outcome.result->value(), "again");
}

class QmpConnectTest : public QmpClientTest {
protected:
    void SetUp() override {
        QmpClientTest::SetUp();
        ::close(clientFd);
        char pattern[] = "/tmp/qmp-test-XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir = pattern;
        path = dir + "/qmp.sock";
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    std::string dir;
    std::string path;
};

TEST_F(QmpConnectTest, ConnectsToUnixSocket) {
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof(address.sun_path) - 1);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    EventSource accepting = loop->addIo(listener, EPOLLIN, [&](uint32_t) {
        int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(fd, 0);
        peer = std::make_unique<FakePeer>(*loop, fd);
        peer->greet();
        accepting.reset();
    });

    auto client = makeClient();
    ReadyOutcome ready;
    client->connect(path, ready.callback());
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_TRUE(ready.ok());
    EXPECT_TRUE(client->connected());
    ::close(listener);
}

TEST_F(QmpConnectTest, ConnectToMissingSocketFails) {
    auto client = makeClient();
    ReadyOutcome ready;
    client->connect(path, ready.callback());
    EXPECT_FALSE(ready.done());
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_EQ(ready.code(), Code::HypervisorGone);
    EXPECT_FALSE(client->connected());
}

// The QEMU guest agent speaks first only when asked: no greeting, no capabilities.
TEST_F(QmpClientTest, WithoutGreetingTheClientIsReadyOnceConnected) {
    Limits limits;
    limits.greeting = false;
    auto client = makeClient(limits);
    ReadyOutcome ready;
    client->start(clientFd, ready.callback());
    EXPECT_FALSE(ready.done()) << "never called back from inside start()";
    ASSERT_TRUE(runUntil([&] { return ready.done(); }));
    EXPECT_TRUE(ready.ok());
    EXPECT_TRUE(client->connected());
    peer->onCommand = [&](const json& command) {
        EXPECT_EQ(command["execute"], "guest-sync");
        peer->reply(command, command["arguments"]["id"]);
    };
    ReplyOutcome sync;
    client->execute("guest-sync", {{"id", 1234}}, sync.callback());
    ASSERT_TRUE(runUntil([&] { return sync.done(); }));
    ASSERT_TRUE(sync.ok());
    EXPECT_EQ(sync.result->value(), 1234);
    EXPECT_TRUE(peer->commands.size() == 1 && peer->commands[0]["execute"] == "guest-sync");
}

} // namespace
} // namespace virtswarm::qmp
