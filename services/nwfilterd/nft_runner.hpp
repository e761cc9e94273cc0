// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/event_loop.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <string>

namespace virtswarm::nwfilter {

// Runs nftables transactions with `nft -f`, one at a time in the order given, each in a
// child process the event loop waits for (never blocking it), killed after a timeout.
// The transaction and nft's complaints are kept in the state directory (last.nft,
// last.err) for whoever debugs a failure.
class NftRunner {
public:
    NftRunner(EventLoop& loop, std::string stateDir);
    ~NftRunner();

    void apply(std::string transaction, std::function<void(Result<void>)> done);

    static constexpr std::chrono::seconds kTimeout{30};

private:
    struct Job {
        std::string transaction;
        std::function<void(Result<void>)> done;
    };
    void startNext();
    void finish(Result<void> outcome);

    EventLoop& m_loop;
    std::string m_stateDir;
    std::deque<Job> m_queue;
    bool m_running = false;
    pid_t m_child = -1;
    EventSource m_childWatch;
    EventSource m_timer;
};

} // namespace virtswarm::nwfilter
