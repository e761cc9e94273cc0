// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The fd-broker pattern: an unprivileged process (a VM's shim) asks a system daemon for an
// open file descriptor it could not open itself (a TAP device, a volume, a lock lease).
// The daemon checks polkit for the requesting uid, opens the resource for that uid and
// hands the fd over in the reply, with a name saying what it is; the fd is then the
// requester's alone. A method of this shape returns (h fd, s name).
#include "virtswarm/polkit.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/result.hpp"

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <sys/types.h>

namespace virtswarm::service {

using FdAttributes = std::map<std::string, std::string>;

struct BrokeredFd {
    int fd;           // the receiver's to pass on and close
    std::string name; // what it is (a TAP's ifname, a volume's path)
    // What the receiver must know to use it, for methods that say (a volume's "format").
    FdAttributes attributes = {};
};

using FdReply = sdbus::Result<sdbus::UnixFd, std::string>;
// The shape (h fd, s name, a{ss} attributes).
using FdReplyWithAttributes = sdbus::Result<sdbus::UnixFd, std::string, FdAttributes>;

// Server side, in the method's handler: `request` is the polkit details of the resource
// asked for, or why the request is wrong; then polkit decides for the caller, and `open`
// makes the fd for the caller's uid (it should look the resource up again: it may have
// changed while polkit decided). The fd `open` returns is sent and closed here.
void handOutFd(sdbus::IObject& object, Authority& authority, FdReply&& result,
               Result<PolkitDetails> request, const actions::MethodAction& action,
               std::function<Result<BrokeredFd>(uid_t requester)> open);
// An `open` that finishes later (it asks another daemon): it calls `done` exactly once,
// with the fd or why there is none.
using AsyncFdOpener =
    std::function<void(uid_t requester, std::function<void(Result<BrokeredFd>)> done)>;
void handOutFdAsync(sdbus::IObject& object, Authority& authority, FdReply&& result,
                    Result<PolkitDetails> request, const actions::MethodAction& action,
                    AsyncFdOpener open);
// The same with attributes in the reply. With `onBehalfOf`, polkit decides for that uid
// rather than the caller's (Authority::checkBusNameOnBehalfOf: a root shim asking for its
// domain's definer), and `open` gets that uid.
void handOutFd(sdbus::IObject& object, Authority& authority, FdReplyWithAttributes&& result,
               Result<PolkitDetails> request, const actions::MethodAction& action,
               std::optional<uid_t> onBehalfOf,
               std::function<Result<BrokeredFd>(uid_t requester)> open);

// Client side. The generated async proxy (Method.Async=client, with a Method.Timeout)
// delivers every reply of a method to one virtual callback that does not tell which call
// it answers; FdRequests keeps requests in order, one in flight at a time, so each reply
// completes the request that sent it.
class FdRequests {
public:
    using Done = std::function<void(Result<BrokeredFd>)>;

    // `send` issues the async call (its reply must come to complete()); it runs now if no
    // request is in flight, else when the ones before it are answered.
    void request(std::function<void()> send, Done done);
    // From the proxy's reply callback: a copy of the fd is kept (the UnixFd closes its own).
    void complete(const sdbus::Error* error, const sdbus::UnixFd& fd, const std::string& name,
                  const FdAttributes& attributes = {});
    // The requests still waiting get `error` (the daemon became unreachable).
    void failAll(const Error& error);

private:
    struct Pending {
        std::function<void()> send;
        Done done;
    };
    void sendNext();

    std::deque<Pending> m_queue; // the front is in flight
    bool m_inFlight = false;
    int m_staleReplies = 0; // replies still to come for requests already failed
};

} // namespace virtswarm::service
