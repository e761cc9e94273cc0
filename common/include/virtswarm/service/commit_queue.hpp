// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/result.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace virtswarm::service {

using virtswarm::FileChange;

// Group commit of definition files. Every change asked for while a batch is being made
// durable joins the next batch, so many concurrent callers share the syncs of one batch
// instead of paying an fsync of the file and one of its directory each. A batch is:
//   1. each new content written to a temp file next to its target (a dot file: loaders
//      skip it), not synced;
//   2. the data of every temp file synced at once (writeback started for all, then an
//      fdatasync of each, mostly waiting for writes already under way);
//   3. the renames and unlinks, in the order they were asked for;
//   4. one fsync of each directory touched: the new names are on disk;
// and only then is each caller of the batch answered. A crash at any instant leaves every
// file with its old or its new content, never a torn one, and every change a caller was
// told about is on disk.
//
// The disk work runs on a worker thread; the loop thread only queues changes and answers
// (through an eventfd), so a slow disk never stalls the bus. The worker touches nothing
// but its queue and the files (no logging, no bus): the daemon stays single-threaded in
// everything else, and a child forked meanwhile (a shim) inherits no lock it could need.
class CommitQueue {
public:
    using Done = std::function<void(Result<void>)>;

    // The two syncs of a batch; tests wrap them to count and order them.
    struct Disk {
        std::function<Result<void>(const std::vector<std::string>& files)> syncData; // step 2
        std::function<Result<void>(const std::string& dir)> syncDirectory;           // step 4
    };
    static Disk realDisk();

    explicit CommitQueue(EventLoop& loop, Disk disk = realDisk());
    // Finishes the batch on disk, if any, and drops the callers still waiting: an answer
    // after the loop stopped would go nowhere.
    ~CommitQueue();
    CommitQueue(const CommitQueue&) = delete;
    CommitQueue& operator=(const CommitQueue&) = delete;

    // Makes `changes` durable, in order, and calls `done` on the loop thread once they
    // are. A change that fails (its directory missing, a full disk) fails only its own
    // commit, unless a sync fails: then the whole batch does.
    void commit(std::vector<FileChange> changes, Done done);

    // Batches made durable so far (each costs one data sync and one fsync per directory).
    uint64_t batches() const;

private:
    struct Request {
        std::vector<FileChange> changes;
        Done done;
        Result<void> outcome = success();
    };

    void work();
    void makeDurable(std::vector<Request>& batch);
    void answerFinished();

    Disk m_disk;
    int m_wakeFd = -1; // eventfd: the worker tells the loop a batch is finished
    EventSource m_wakeSource;
    mutable std::mutex m_mutex;
    std::condition_variable m_wanted;
    std::deque<Request> m_waiting;   // not yet taken by the worker
    std::vector<Request> m_finished; // durable (or failed), to answer on the loop thread
    uint64_t m_batches = 0;
    bool m_stopping = false;
    std::thread m_worker; // last: started once everything above exists
};

} // namespace virtswarm::service
