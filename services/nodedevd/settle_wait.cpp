// SPDX-License-Identifier: LGPL-2.1-or-later
#include "settle_wait.hpp"

#include <memory>

namespace virtswarm::nodedev {
namespace {

constexpr std::chrono::milliseconds kInterval{20};

struct Wait : std::enable_shared_from_this<Wait> {
    EventLoop& loop;
    std::function<bool()> settled;
    std::string what;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(Result<void>)> done;
    EventSource timer;

    Wait(EventLoop& l, std::function<bool()> s, std::string w,
         std::chrono::steady_clock::time_point d, std::function<void(Result<void>)> cb)
        : loop(l)
        , settled(std::move(s))
        , what(std::move(w))
        , deadline(d)
        , done(std::move(cb)) {}

    void check() {
        if (settled()) {
            finish(success());
            return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            finish(Error(Code::Timeout, "timed out waiting for " + what));
            return;
        }
        // The timer's callback holds the wait alive; it replaces itself each turn.
        timer = loop.addTimer(kInterval, [self = shared_from_this()] {
            auto keep = self; // check() replaces the timer that holds `self`
            keep->check();
        });
    }

    void finish(Result<void> r) {
        auto keep = shared_from_this();
        auto callback = std::move(done);
        timer.reset();
        callback(std::move(r));
    }
};

} // namespace

void waitUntilSettled(EventLoop& loop, std::function<bool()> settled, std::string what,
                      std::chrono::milliseconds limit, std::function<void(Result<void>)> done) {
    auto wait = std::make_shared<Wait>(loop, std::move(settled), std::move(what),
                                       std::chrono::steady_clock::now() + limit, std::move(done));
    wait->check();
}

} // namespace virtswarm::nodedev
