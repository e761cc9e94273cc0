// SPDX-License-Identifier: LGPL-2.1-or-later
#include "nft_runner.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/child_process.hpp"
#include "virtswarm/log.hpp"

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::nwfilter {

NftRunner::NftRunner(EventLoop& loop, std::string stateDir)
    : m_loop(loop)
    , m_stateDir(std::move(stateDir)) {}

NftRunner::~NftRunner() {
    if (m_child > 0) {
        ::kill(m_child, SIGKILL);
    }
}

void NftRunner::apply(std::string transaction, std::function<void(Result<void>)> done) {
    m_queue.push_back(Job{std::move(transaction), std::move(done)});
    if (!m_running) {
        startNext();
    }
}

void NftRunner::startNext() {
    if (m_queue.empty()) {
        m_running = false;
        return;
    }
    m_running = true;
    std::string file = m_stateDir + "/last.nft";
    std::string errors = m_stateDir + "/last.err";
    if (auto r = writeFileAtomic(file, m_queue.front().transaction, 0600); !r) {
        finish(r);
        return;
    }
    int errorFd = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    SpawnOptions spawn;
    spawn.argv = {"/usr/sbin/nft", "-f", file};
    spawn.stderrFd = errorFd;
    auto pid = spawnProcess(spawn);
    if (errorFd >= 0) {
        ::close(errorFd);
    }
    if (!pid) {
        finish(pid.takeError());
        return;
    }
    m_child = pid.value();
    m_childWatch = m_loop.addChild(m_child, [this, errors](const siginfo_t& info) {
        m_child = -1;
        if (info.si_code == CLD_EXITED && info.si_status == 0) {
            finish(success());
            return;
        }
        auto text = readFile(errors, 4096);
        std::string detail = text ? text.value() : std::string();
        while (!detail.empty() && detail.back() == '\n') {
            detail.pop_back();
        }
        finish(Error(Code::OperationFailed, "nft " + describeExit(info) + ": " + detail));
    });
    m_timer = m_loop.addTimer(kTimeout, [this] {
        if (m_child > 0) {
            log::error("nft did not finish in time; killed");
            ::kill(m_child, SIGKILL); // the child watch reports it
        }
    });
}

void NftRunner::finish(Result<void> outcome) {
    m_timer.reset();
    m_childWatch.reset();
    Job job = std::move(m_queue.front());
    m_queue.pop_front();
    // Answered on the next loop turn: `done` may queue further work, and this may be
    // running inside the child watch that was just reset.
    m_loop.defer([this, done = std::move(job.done), outcome = std::move(outcome)]() mutable {
        done(std::move(outcome));
        startNext();
    });
}

} // namespace virtswarm::nwfilter
