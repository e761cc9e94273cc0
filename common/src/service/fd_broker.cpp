// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/service/fd_broker.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/async_reply.hpp"

#include <fcntl.h>

namespace virtswarm::service {

namespace {

template <typename Reply, typename Send>
void handOut(sdbus::IObject& object, Authority& authority, Reply&& result,
             Result<PolkitDetails> request, const actions::MethodAction& action,
             std::optional<uid_t> onBehalfOf, AsyncFdOpener open, Send send) {
    auto shared = share(std::move(result));
    if (!request) {
        fail(shared, request.error());
        return;
    }
    auto decided = [shared, open = std::move(open), send](Result<uid_t> requester) {
        if (!requester) {
            fail(shared, requester.error());
            return;
        }
        open(requester.value(), [shared, send](Result<BrokeredFd> opened) {
            if (!opened) {
                fail(shared, opened.error());
                return;
            }
            // Our copy closes with the reply; the caller's copy keeps the resource.
            send(*shared, std::move(opened).value());
        });
    };
    Caller caller = currentCaller(object);
    if (onBehalfOf) {
        authority.checkBusNameOnBehalfOf(caller.sender, *onBehalfOf, actions::actionId(action),
                                         request.value(), std::move(decided));
    } else {
        authority.checkBusNameWithUid(caller.sender, actions::actionId(action), request.value(),
                                      caller.allowInteraction, std::move(decided));
    }
}

// A synchronous opener as an asynchronous one.
AsyncFdOpener deferred(std::function<Result<BrokeredFd>(uid_t requester)> open) {
    return [open = std::move(open)](uid_t requester, std::function<void(Result<BrokeredFd>)> done) {
        done(open(requester));
    };
}

} // namespace

void handOutFd(sdbus::IObject& object, Authority& authority, FdReply&& result,
               Result<PolkitDetails> request, const actions::MethodAction& action,
               std::function<Result<BrokeredFd>(uid_t requester)> open) {
    handOutFdAsync(object, authority, std::move(result), std::move(request), action,
                   deferred(std::move(open)));
}

void handOutFdAsync(sdbus::IObject& object, Authority& authority, FdReply&& result,
                    Result<PolkitDetails> request, const actions::MethodAction& action,
                    AsyncFdOpener open) {
    handOut(object, authority, std::move(result), std::move(request), action, std::nullopt,
            std::move(open), [](FdReply& reply, BrokeredFd opened) {
                reply.returnResults(sdbus::UnixFd(opened.fd, sdbus::adopt_fd), opened.name);
            });
}

void handOutFd(sdbus::IObject& object, Authority& authority, FdReplyWithAttributes&& result,
               Result<PolkitDetails> request, const actions::MethodAction& action,
               std::optional<uid_t> onBehalfOf,
               std::function<Result<BrokeredFd>(uid_t requester)> open) {
    handOut(object, authority, std::move(result), std::move(request), action, onBehalfOf,
            deferred(std::move(open)), [](FdReplyWithAttributes& reply, BrokeredFd opened) {
                reply.returnResults(sdbus::UnixFd(opened.fd, sdbus::adopt_fd), opened.name,
                                    opened.attributes);
            });
}

void FdRequests::request(std::function<void()> send, Done done) {
    m_queue.push_back(Pending{std::move(send), std::move(done)});
    if (!m_inFlight) {
        sendNext();
    }
}

void FdRequests::sendNext() {
    while (!m_queue.empty() && !m_inFlight) {
        m_inFlight = true;
        try {
            m_queue.front().send();
        } catch (const sdbus::Error& e) {
            Done done = std::move(m_queue.front().done);
            m_queue.pop_front();
            m_inFlight = false;
            done(Error(Code::OperationFailed, "cannot send the request: " + e.getMessage()));
        }
    }
}

void FdRequests::complete(const sdbus::Error* error, const sdbus::UnixFd& fd,
                          const std::string& name, const FdAttributes& attributes) {
    if (m_staleReplies > 0 || m_queue.empty()) {
        // The answer to a request failAll() already failed: nobody waits for it any more.
        m_staleReplies -= m_staleReplies > 0 ? 1 : 0;
        return;
    }
    Done done = std::move(m_queue.front().done);
    m_queue.pop_front();
    m_inFlight = false;
    if (error != nullptr) {
        done(fromDBusError(*error));
    } else {
        int own = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
        if (own < 0) {
            done(Error(Code::OperationFailed, "cannot keep the fd received for '" + name + "'"));
        } else {
            done(BrokeredFd{own, name, attributes});
        }
    }
    sendNext();
}

void FdRequests::failAll(const Error& error) {
    auto queue = std::move(m_queue);
    m_queue.clear();
    m_staleReplies += m_inFlight ? 1 : 0;
    m_inFlight = false;
    for (auto& pending : queue) {
        pending.done(error);
    }
}

} // namespace virtswarm::service
