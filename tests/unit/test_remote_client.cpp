// SPDX-License-Identifier: LGPL-2.1-or-later
// One libvirt client connection of the bridge over a socketpair, on the real event loop:
// framing across reads, out-of-order replies, back-pressure and the limits that close a
// misbehaving client.
#include "client.hpp"
#include "loop_driver.hpp"
#include "protocol.hpp"
#include "virtswarm/fd_passing.hpp"

#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;

// Stands in for the dispatcher: records frames and, like it, counts each as a call in
// flight until the test answers it.
class RecordingSink : public Client::Sink {
public:
    void onFrame(const std::shared_ptr<Client>& from, Frame frame) override {
        from->callStarted();
        frames.push_back(std::move(frame));
        client = from;
    }
    void onClosed(Client&) override { ++closed; }

    std::vector<Frame> frames;
    std::shared_ptr<Client> client;
    int closed = 0;
};

Bytes call(int32_t proc, uint32_t serial, const std::string& arg = "") {
    Header h;
    h.procedure = proc;
    h.serial = serial;
    xdr::Writer w;
    if (!arg.empty()) {
        w.string(arg);
    }
    return encodeMessage(h, w.bytes());
}

class ClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = EventLoop::create();
        ASSERT_TRUE(created);
        loop = std::move(created).value();
        int fds[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        serverFd = fds[0];
        peerFd = fds[1];
    }
    void TearDown() override {
        client.reset();
        sink.client.reset();
        settle();
        if (peerFd >= 0) {
            ::close(peerFd);
        }
    }

    void start(ClientLimits limits = {}) {
        client = std::make_shared<Client>(*loop, serverFd, 1, false, PeerIdentity{}, limits,
                                          budgets, sink);
        client->start();
    }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
        return testing_loop::runUntil(*loop, done, limit);
    }

    void settle() { testing_loop::settle(*loop); }

    void peerSend(const Bytes& b) {
        ASSERT_EQ(::write(peerFd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
    }

    // Reads whole messages the client sent back, in order.
    std::vector<Frame> peerReceive(size_t count) {
        std::vector<Frame> out;
        runUntil([&] {
            uint8_t buf[4096];
            ssize_t n = ::recv(peerFd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                received.feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
            }
            while (true) {
                auto f = received.next();
                if (!f || !f.value()) {
                    break;
                }
                out.push_back(std::move(*f.value()));
            }
            return out.size() >= count;
        });
        return out;
    }

    bool peerSeesEof() {
        return runUntil([&] {
            uint8_t b;
            ssize_t n = ::recv(peerFd, &b, 1, MSG_DONTWAIT);
            return n == 0;
        });
    }

    std::unique_ptr<EventLoop> loop;
    InputBudgets budgets{InputBudget{64 * 1024 * 1024, 256 * 1024 * 1024}, InputBudget{128, 512}};
    InputBudget& budget = budgets.bytes;
    RecordingSink sink;
    std::shared_ptr<Client> client;
    FrameParser received;
    int serverFd = -1;
    int peerFd = -1;
};

TEST_F(ClientTest, FramesSplitAcrossWritesArriveWholeAndRepliesMayOvertake) {
    start();
    Bytes stream = call(23, 0, "first");
    Bytes second = call(24, 1, "second");
    stream.insert(stream.end(), second.begin(), second.end());
    for (uint8_t byte : stream) {
        peerSend(Bytes{byte});
        settle();
    }
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 2; }));
    EXPECT_EQ(sink.frames[0].header.serial, 0u);
    EXPECT_EQ(sink.frames[1].header.serial, 1u);

    // The second call completes first: its reply goes out first.
    xdr::Writer body;
    body.i32(7);
    client->sendReply(sink.frames[1].header, body.bytes());
    client->callFinished();
    RpcError e;
    e.code = 42;
    e.message = "Domain not found";
    client->sendError(sink.frames[0].header, e);
    client->callFinished();

    auto replies = peerReceive(2);
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0].header.serial, 1u);
    EXPECT_EQ(replies[0].header.procedure, 24);
    EXPECT_TRUE(replies[0].header.is(proto::MessageType::Reply));
    EXPECT_EQ(replies[0].header.status, 0u);
    EXPECT_EQ(replies[1].header.serial, 0u);
    EXPECT_EQ(replies[1].header.status, static_cast<uint32_t>(proto::MessageStatus::Error));
    xdr::Reader r(replies[1].payload);
    EXPECT_EQ(readError(r).code, 42);
}

TEST_F(ClientTest, ABadLengthClosesTheConnection) {
    start();
    peerSend(Bytes{0, 0, 0, 5, 1, 2, 3, 4});
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
    EXPECT_TRUE(client->closed());
    EXPECT_TRUE(sink.frames.empty());
}

TEST_F(ClientTest, AnOversizedLengthClosesBeforeAnyPayloadIsBuffered) {
    start();
    xdr::Writer w;
    w.u32(proto::kMaxMessageLength + 1);
    peerSend(w.bytes());
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
}

Bytes lengthWord(uint32_t length) {
    xdr::Writer w;
    w.u32(length);
    return w.take();
}

TEST_F(ClientTest, BeforeOpenOnlySmallFramesAreAccepted) {
    start();
    peerSend(lengthWord(ClientLimits{}.preOpenMessageMax + 1));
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
}

TEST_F(ClientTest, AfterOpenLargeFramesAreAccepted) {
    start();
    client->open("qemu:///system", false);
    Bytes big = call(23, 1, std::string(1024 * 1024, 'x'));
    // More than the socket holds: written as the client reads.
    fcntl(peerFd, F_SETFL, O_NONBLOCK);
    size_t sent = 0;
    ASSERT_TRUE(runUntil([&] {
        ssize_t n = ::send(peerFd, big.data() + sent, big.size() - sent, MSG_DONTWAIT);
        sent += n > 0 ? static_cast<size_t>(n) : 0;
        return sink.frames.size() == 1;
    }));
    EXPECT_EQ(budget.claimedTotal(), 0u); // given back once dispatched
    EXPECT_FALSE(client->closed());
}

TEST_F(ClientTest, AFrameOverTheInputBudgetCloses) {
    budget = InputBudget(1024 * 1024, 1024 * 1024);
    start();
    client->open("qemu:///system", false);
    peerSend(lengthWord(2 * 1024 * 1024));
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(budget.claimedTotal(), 0u);
}

TEST_F(ClientTest, AConnectionThatDoesNotOpenInTimeIsClosed) {
    ClientLimits limits;
    limits.openTimeout = 50ms;
    start(limits);
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
}

TEST_F(ClientTest, AnOpenedConnectionHasNoOpenTimeout) {
    ClientLimits limits;
    limits.openTimeout = 50ms;
    start(limits);
    client->open("qemu:///system", false);
    EXPECT_FALSE(runUntil([&] { return client->closed(); }, 300ms));
}

TEST_F(ClientTest, CallsBeyondThePendingLimitWaitInTheSocket) {
    ClientLimits limits;
    limits.maxPendingCalls = 2;
    start(limits);
    for (uint32_t s = 0; s < 5; ++s) {
        peerSend(call(23, s, "x"));
    }
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 2; }));
    settle();
    EXPECT_EQ(sink.frames.size(), 2u); // no more until a call completes
    client->sendReply(sink.frames[0].header, {});
    client->callFinished();
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 3; }));
    for (size_t i = 1; i < 3; ++i) {
        client->sendReply(sink.frames[i].header, {});
        client->callFinished();
    }
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 5; }));
    EXPECT_EQ(sink.frames[4].header.serial, 4u);
}

TEST_F(ClientTest, HangUpIsNoticedAndCompleteCallsAreStillDispatched) {
    start();
    peerSend(call(2, 9));
    ::close(peerFd);
    peerFd = -1;
    ASSERT_TRUE(runUntil([&] { return sink.closed == 1; }));
    ASSERT_EQ(sink.frames.size(), 1u);
    EXPECT_EQ(sink.frames[0].header.procedure, 2);
    // Replying to a closed client is harmless.
    client->sendReply(sink.frames[0].header, {});
    client->callFinished();
}

TEST_F(ClientTest, AClientThatNeverReadsItsEventsIsDisconnected) {
    ClientLimits limits;
    limits.eventOutputLimit = 64 * 1024;
    start(limits);
    Header event;
    event.procedure = proto::DomainEventCallbackLifecycle;
    event.type = static_cast<uint32_t>(proto::MessageType::Message);
    Bytes payload(4096, 0);
    for (int i = 0; i < 10000 && !client->closed(); ++i) {
        client->sendMessage(event, payload);
    }
    EXPECT_TRUE(client->closed());
    EXPECT_EQ(sink.closed, 1);
}

TEST_F(ClientTest, ReplyTooLargeBecomesAnError) {
    start();
    peerSend(call(14, 3));
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 1; }));
    Bytes huge(proto::kPayloadMax + 1, 'x');
    client->sendReply(sink.frames[0].header, huge);
    client->callFinished();
    auto replies = peerReceive(1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].header.status, static_cast<uint32_t>(proto::MessageStatus::Error));
    xdr::Reader r(replies[0].payload);
    EXPECT_EQ(readError(r).code, proto::err::kRpc);
}

// Passing descriptors as libvirt does (virSocketSendFD): one byte carrying each.
void sendFdByte(int socket, int fd, char byte = 0) {
    ASSERT_EQ(sendWithFd(socket, &byte, 1, fd, MSG_NOSIGNAL), 1);
}

Bytes callWithFds(uint32_t serial, uint32_t count, const std::string& arg) {
    Header h;
    h.procedure = proto::DomainOpenGraphics;
    h.type = static_cast<uint32_t>(proto::MessageType::CallWithFds);
    h.serial = serial;
    xdr::Writer w;
    w.u32(count);
    w.string(arg);
    return encodeMessage(h, w.bytes());
}

struct Pipe {
    Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
    ~Pipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    int fds[2] = {-1, -1};
};

TEST_F(ClientTest, ACallWithFdsGetsItsDescriptorsAndTheNextCallFollows) {
    start();
    Pipe first;
    Pipe second;
    peerSend(callWithFds(5, 2, "args"));
    sendFdByte(peerFd, first.fds[1]);
    sendFdByte(peerFd, second.fds[1]);
    peerSend(call(23, 6, "after"));
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 1; }));
    Frame& frame = sink.frames[0];
    EXPECT_TRUE(frame.header.is(proto::MessageType::CallWithFds));
    EXPECT_EQ(frame.fdCount, 2u);
    ASSERT_EQ(frame.fds.size(), 2u);
    xdr::Reader args(frame.payload); // the count is not part of the arguments
    EXPECT_EQ(args.string(100), "args");
    EXPECT_EQ(args.remaining(), 0u);
    // The descriptors are the peer's pipes, in the order it sent them.
    ASSERT_EQ(::write(frame.fds[1].get(), "2", 1), 1);
    ASSERT_EQ(::write(frame.fds[0].get(), "1", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(first.fds[0], &c, 1), 1);
    EXPECT_EQ(c, '1');
    ASSERT_EQ(::read(second.fds[0], &c, 1), 1);
    EXPECT_EQ(c, '2');
    EXPECT_EQ(budgets.fds.claimedTotal(), 0u); // the call holds them now, not the client

    client->sendReply(frame.header, {});
    client->callFinished();
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 2; }));
    EXPECT_EQ(sink.frames[1].header.serial, 6u);
    EXPECT_FALSE(client->closed());
}

// Each descriptor a client sends is one of ours until a call takes it: a user who sends
// more than its budget (over any number of connections) is closed, and they are returned.
TEST_F(ClientTest, DescriptorsBeyondTheBudgetClose) {
    budgets.fds = InputBudget(3, 3);
    start();
    client->open("qemu:///system", false);
    Pipe pipe;
    peerSend(callWithFds(5, 3, "args")); // announced, and still arriving: held
    for (int i = 0; i < 2; ++i) {
        sendFdByte(peerFd, pipe.fds[1]);
    }
    ASSERT_TRUE(runUntil([&] { return budgets.fds.claimedTotal() == 2; }));
    EXPECT_FALSE(client->closed());
    sendFdByte(peerFd, pipe.fds[1]);
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 1; }));
    EXPECT_EQ(budgets.fds.claimedTotal(), 0u);
    // Unannounced ones, one more than the budget.
    for (int i = 0; i < 4; ++i) {
        sendFdByte(peerFd, pipe.fds[1]);
    }
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(budgets.fds.claimedTotal(), 0u);
}

TEST_F(ClientTest, AReplyWithFdsSendsEachDescriptorAfterTheMessage) {
    start();
    peerSend(call(proto::DomainOpenGraphicsFd, 8));
    ASSERT_TRUE(runUntil([&] { return sink.frames.size() == 1; }));
    Pipe pipe;
    std::vector<sdbus::UnixFd> fds;
    fds.emplace_back(pipe.fds[1]); // a copy (dup) of the write end
    client->sendReplyWithFds(sink.frames[0].header, {}, std::move(fds));
    client->callFinished();

    // Read as libvirt's client does: the message, then one byte per descriptor.
    std::vector<int> passed;
    FrameParser parser;
    std::optional<Frame> reply;
    ASSERT_TRUE(runUntil([&] {
        uint8_t buf[256];
        ReceivedFds got;
        ssize_t n = recvWithFds(peerFd, buf, sizeof buf, 4, MSG_DONTWAIT, got);
        if (n > 0) {
            passed.insert(passed.end(), got.fds.begin(), got.fds.end());
            parser.feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
            if (auto f = parser.next(); f && f.value()) {
                reply = std::move(*f.value());
            }
        }
        return reply.has_value();
    }));
    EXPECT_TRUE(reply->header.is(proto::MessageType::ReplyWithFds));
    EXPECT_EQ(reply->header.serial, 8u);
    EXPECT_EQ(reply->fdCount, 1u);
    EXPECT_TRUE(reply->payload.empty());
    ASSERT_EQ(passed.size(), 1u);
    ASSERT_EQ(::write(passed[0], "x", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(pipe.fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'x');
    ::close(passed[0]);
}

TEST_F(ClientTest, AnnouncingTooManyDescriptorsCloses) {
    start();
    peerSend(callWithFds(1, proto::kMaxFdsPerMessage + 1, "x"));
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
    EXPECT_TRUE(sink.frames.empty());
}

TEST_F(ClientTest, ADescriptorThatDoesNotComeCloses) {
    start();
    peerSend(callWithFds(1, 1, "x"));
    peerSend(Bytes{0}); // the carrier byte, without a descriptor
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
    EXPECT_TRUE(sink.frames.empty());
}

TEST_F(ClientTest, DescriptorsNoMessageAnnouncesAreBoundedAndClose) {
    start();
    // A plain call whose every byte carries a descriptor.
    Bytes message = call(23, 1, std::string(200, 'x'));
    Pipe pipe;
    for (size_t i = 0; i < 2 * proto::kMaxFdsPerMessage + 1; ++i) {
        sendFdByte(peerFd, pipe.fds[1], static_cast<char>(message[i]));
    }
    EXPECT_TRUE(peerSeesEof());
    EXPECT_EQ(sink.closed, 1);
    EXPECT_TRUE(sink.frames.empty());
}

} // namespace
} // namespace virtswarm::bridge
