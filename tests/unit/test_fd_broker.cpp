// SPDX-License-Identifier: LGPL-2.1-or-later
// FdRequests, the client side of the fd broker: one request in flight, replies complete
// requests in order, errors keep their code, a failed queue ignores late replies.
#include "virtswarm/service/fd_broker.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using service::BrokeredFd;
using service::FdRequests;

namespace {

struct Pipe {
    Pipe() { EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0); }
    ~Pipe() {
        close(fds[0]);
        close(fds[1]);
    }
    int fds[2] = {-1, -1};
};

TEST(FdRequests, OneRequestInFlightAndRepliesInOrder) {
    FdRequests requests;
    int sent = 0;
    std::vector<std::string> answered;
    auto record = [&](Result<BrokeredFd> r) {
        ASSERT_TRUE(r);
        answered.push_back(r.value().name);
        EXPECT_GE(r.value().fd, 3);
        close(r.value().fd);
    };
    requests.request([&] { ++sent; }, record);
    requests.request([&] { ++sent; }, record);
    EXPECT_EQ(sent, 1); // the second waits for the first reply

    Pipe pipe;
    requests.complete(nullptr, sdbus::UnixFd(pipe.fds[0]), "tap0");
    EXPECT_EQ(sent, 2);
    requests.complete(nullptr, sdbus::UnixFd(pipe.fds[1]), "tap1");
    EXPECT_EQ(answered, (std::vector<std::string>{"tap0", "tap1"}));
}

TEST(FdRequests, AnErrorReplyKeepsItsCode) {
    FdRequests requests;
    std::optional<Error> got;
    requests.request([] {},
                     [&](Result<BrokeredFd> r) {
                         ASSERT_FALSE(r);
                         got = r.error();
                     });
    sdbus::Error denied("org.freedesktop.DBus.Error.AccessDenied", "no");
    requests.complete(&denied, sdbus::UnixFd(), "");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->code(), Code::AccessDenied);
}

TEST(FdRequests, ASendThatThrowsFailsOnlyItsRequest) {
    FdRequests requests;
    int failures = 0;
    int sent = 0;
    requests.request([] { throw sdbus::Error("org.freedesktop.DBus.Error.Disconnected", "gone"); },
                     [&](Result<BrokeredFd> r) { failures += r ? 0 : 1; });
    requests.request([&] { ++sent; }, [](Result<BrokeredFd>) {});
    EXPECT_EQ(failures, 1);
    EXPECT_EQ(sent, 1);
}

TEST(FdRequests, LateReplyAfterFailAllCompletesNothing) {
    FdRequests requests;
    int failures = 0;
    requests.request([] {}, [&](Result<BrokeredFd> r) { failures += r ? 0 : 1; });
    requests.failAll(Error(Code::OperationFailed, "daemon gone"));
    EXPECT_EQ(failures, 1);

    int answered = 0;
    requests.request([] {},
                     [&](Result<BrokeredFd> r) {
                         answered += 1;
                         ASSERT_TRUE(r);
                         EXPECT_EQ(r.value().name, "tap9");
                         close(r.value().fd);
                     });
    Pipe pipe;
    // The stale reply to the failed request must not complete the new one.
    requests.complete(nullptr, sdbus::UnixFd(pipe.fds[0]), "stale");
    EXPECT_EQ(answered, 0);
    requests.complete(nullptr, sdbus::UnixFd(pipe.fds[0]), "tap9");
    EXPECT_EQ(answered, 1);
}

} // namespace
