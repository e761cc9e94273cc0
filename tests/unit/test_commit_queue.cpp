// SPDX-License-Identifier: LGPL-2.1-or-later
// CommitQueue: group commit on a real directory and a real event loop. The two syncs are
// wrapped (not faked: the real fdatasync/fsync still run) so the test can count them and
// see what was on disk when each ran; the one fake is the failing disk of the last test.
#include "loop_driver.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/service/commit_queue.hpp"

#include <atomic>
#include <filesystem>
#include <gtest/gtest.h>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

using namespace virtswarm;
using service::CommitQueue;
using service::FileChange;

namespace {

struct CommitQueueTest : ::testing::Test {
    void SetUp() override {
        char tmpl[] = "/tmp/vs-commit-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        loop = std::move(EventLoop::create()).value();
    }
    void TearDown() override {
        queue.reset();
        std::filesystem::remove_all(dir);
    }

    // Counts the syncs; each directory sync records which files existed at that
    // moment, i.e. which names it made durable. The data sync is slowed down so that
    // requests arrive while a batch is on its way to the disk, as under load.
    CommitQueue::Disk countingDisk() {
        CommitQueue::Disk real = CommitQueue::realDisk();
        return CommitQueue::Disk{[this, real](const std::vector<std::string>& files) {
                                     ++dataSyncs;
                                     std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                     return real.syncData(files);
                                 },
                                 [this, real](const std::string& d) {
                                     auto r = real.syncDirectory(d);
                                     std::lock_guard lock(mutex);
                                     ++directorySyncs;
                                     for (const auto& entry :
                                          std::filesystem::directory_iterator(d)) {
                                         durableNames.insert(entry.path().string());
                                     }
                                     return r;
                                 }};
    }

    bool durable(const std::string& path) {
        std::lock_guard lock(mutex);
        return durableNames.count(path) > 0;
    }

    std::string dir;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<CommitQueue> queue;
    std::atomic<int> dataSyncs{0};
    std::mutex mutex;
    int directorySyncs = 0;
    std::set<std::string> durableNames;
};

TEST_F(CommitQueueTest, ConcurrentCommitsShareSyncsAndAreAnsweredOnlyOnceDurable) {
    queue = std::make_unique<CommitQueue>(*loop, countingDisk());
    constexpr int kRequests = 64;
    int answered = 0;
    int answeredBeforeDurable = 0;
    for (int i = 0; i < kRequests; ++i) {
        std::string path = dir + "/d" + std::to_string(i) + ".xml";
        queue->commit({FileChange{path, "<domain>" + std::to_string(i) + "</domain>", 0600}},
                      [&, path](Result<void> r) {
                          EXPECT_TRUE(r) << r.error().message();
                          if (!durable(path)) {
                              ++answeredBeforeDurable;
                          }
                          ++answered;
                      });
    }
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return answered == kRequests; }, std::chrono::seconds(30)));
    EXPECT_EQ(answeredBeforeDurable, 0);
    EXPECT_LT(dataSyncs.load(), kRequests);
    EXPECT_LT(static_cast<int>(queue->batches()), kRequests);
    EXPECT_EQ(static_cast<int>(queue->batches()), directorySyncs);
    for (int i = 0; i < kRequests; ++i) {
        auto text = readFile(dir + "/d" + std::to_string(i) + ".xml");
        ASSERT_TRUE(text);
        EXPECT_EQ(text.value(), "<domain>" + std::to_string(i) + "</domain>");
    }
}

TEST_F(CommitQueueTest, ChangesApplyInOrderAndLeaveNoTempFiles) {
    queue = std::make_unique<CommitQueue>(*loop, countingDisk());
    std::string path = dir + "/a.xml";
    int answered = 0;
    auto count = [&](Result<void> r) {
        EXPECT_TRUE(r);
        ++answered;
    };
    queue->commit({FileChange{path, "first", 0600}}, count);
    queue->commit({FileChange{path, std::nullopt, 0600}}, count);
    queue->commit({FileChange{path, "third", 0644}}, count);
    queue->commit({FileChange{dir + "/b.xml", "b", 0600}, FileChange{dir + "/b.xml", {}, 0600}},
                  count);
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return answered == 4; }, std::chrono::seconds(30)));
    EXPECT_EQ(readFile(path).value(), "third");
    EXPECT_FALSE(std::filesystem::exists(dir + "/b.xml"));
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms(0644));
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    }
}

TEST_F(CommitQueueTest, AFailingChangeFailsOnlyItsOwnCommit) {
    queue = std::make_unique<CommitQueue>(*loop, countingDisk());
    std::optional<Result<void>> bad;
    std::optional<Result<void>> good;
    queue->commit({FileChange{dir + "/missing/x.xml", "x", 0600}},
                  [&](Result<void> r) { bad = std::move(r); });
    queue->commit({FileChange{dir + "/y.xml", "y", 0600}},
                  [&](Result<void> r) { good = std::move(r); });
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return bad && good; }, std::chrono::seconds(30)));
    ASSERT_FALSE(*bad);
    EXPECT_EQ(bad->error().code(), Code::OperationFailed);
    EXPECT_TRUE(*good);
    EXPECT_EQ(readFile(dir + "/y.xml").value(), "y");
}

TEST_F(CommitQueueTest, RemovingWhatIsNotThereSucceedsEvenWithoutItsDirectory) {
    // As an undefine of a domain that never had an autostart marker (nor its directory).
    queue = std::make_unique<CommitQueue>(*loop, countingDisk());
    std::optional<Result<void>> outcome;
    queue->commit({FileChange{dir + "/autostart/x", std::nullopt, 0644}},
                  [&](Result<void> r) { outcome = std::move(r); });
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return outcome.has_value(); }, std::chrono::seconds(30)));
    EXPECT_TRUE(*outcome) << outcome->error().message();
}

TEST_F(CommitQueueTest, AFailedDataSyncFailsTheBatchAndRenamesNothing) {
    CommitQueue::Disk broken = CommitQueue::realDisk();
    broken.syncData = [](const std::vector<std::string>&) -> Result<void> {
        return Error(Code::OperationFailed, "fdatasync: Input/output error");
    };
    queue = std::make_unique<CommitQueue>(*loop, broken);
    std::optional<Result<void>> outcome;
    queue->commit({FileChange{dir + "/z.xml", "z", 0600}},
                  [&](Result<void> r) { outcome = std::move(r); });
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return outcome.has_value(); }, std::chrono::seconds(30)));
    EXPECT_FALSE(*outcome);
    EXPECT_TRUE(std::filesystem::is_empty(dir));
}

} // namespace
