// SPDX-License-Identifier: LGPL-2.1-or-later
// logd's files without a bus: rotation keeps a log within its budget, ReadLog's slices,
// the journal's native protocol and lines, and logd.conf.
#include "journal_lines.hpp"
#include "logd_config.hpp"
#include "rotating_file.hpp"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::log_daemon;
namespace fs = std::filesystem;

namespace {

class LogDir : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/virtswarm-logd-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        m_dir = pattern;
    }
    void TearDown() override { fs::remove_all(m_dir); }
    std::string path(const std::string& name) const { return m_dir + "/" + name; }
    uint64_t bytesOnDisk() const {
        uint64_t total = 0;
        for (const auto& entry : fs::directory_iterator(m_dir)) {
            total += entry.file_size();
        }
        return total;
    }
    size_t files() const {
        return static_cast<size_t>(std::distance(fs::directory_iterator(m_dir), {}));
    }

    std::string m_dir;
};

TEST_F(LogDir, AFloodNeverTakesMoreThanTheRotationBudget) {
    auto file = RotatingFile::open(path("vm.log"), RotationPolicy{1000, 2});
    ASSERT_TRUE(file) << file.error().message();
    std::string line(99, 'x');
    line += '\n';
    for (int i = 0; i < 1000; ++i) { // 100 KB into a 3 KB budget
        ASSERT_TRUE(file.value()->write(line));
    }
    EXPECT_LE(bytesOnDisk(), 3000u);
    EXPECT_EQ(files(), 3u); // vm.log, vm.log.1, vm.log.2
    EXPECT_EQ(fs::file_size(path("vm.log.1")), 1000u);
    EXPECT_EQ(fs::file_size(path("vm.log.2")), 1000u);
    EXPECT_EQ(file.value()->size(), fs::file_size(path("vm.log")));
}

TEST_F(LogDir, AChunkLargerThanAFileIsSplitAndTheNewestKept) {
    auto file = RotatingFile::open(path("vm.log"), RotationPolicy{10, 1});
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value()->write("0123456789abcdefghijKLMNO"));
    auto newest = readLogFile(path("vm.log"), 0, 100);
    ASSERT_TRUE(newest);
    EXPECT_EQ(newest.value().data, "KLMNO");
    auto older = readLogFile(path("vm.log.1"), 0, 100);
    EXPECT_EQ(older.value().data, "abcdefghij");
}

TEST_F(LogDir, NoBackupsTruncates) {
    auto file = RotatingFile::open(path("vm.log"), RotationPolicy{8, 0});
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value()->write("12345678ab"));
    EXPECT_EQ(files(), 1u);
    EXPECT_EQ(readLogFile(path("vm.log"), 0, 100).value().data, "ab");
}

TEST_F(LogDir, AnExistingLogIsContinued) {
    {
        auto file = RotatingFile::open(path("vm.log"), RotationPolicy{100, 1});
        ASSERT_TRUE(file.value()->write("first\n"));
    }
    auto file = RotatingFile::open(path("vm.log"), RotationPolicy{100, 1});
    EXPECT_EQ(file.value()->size(), 6u);
    ASSERT_TRUE(file.value()->write("second\n"));
    EXPECT_EQ(readLogFile(path("vm.log"), 0, 100).value().data, "first\nsecond\n");
}

TEST_F(LogDir, ALinkIsNotFollowed) {
    ASSERT_EQ(::symlink("/etc/passwd", path("vm.log").c_str()), 0);
    EXPECT_FALSE(RotatingFile::open(path("vm.log"), RotationPolicy{}));
}

TEST_F(LogDir, AWritersFileIsBoundedByTruncationAndNeverRenamed) {
    int fd = ::open(path("serial.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    auto file = RotatingFile::adopt(fd, "vm serial0 log", RotationPolicy{200, 3});
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file.value()->adoptedFd(), fd);
    std::string line(49, 'y');
    line += '\n';
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(file.value()->write(line));
    }
    EXPECT_EQ(files(), 1u); // no vm.log.1: the path is not logd's to rename
    EXPECT_LE(fs::file_size(path("serial.log")), 200u);
    auto text = readLogFile(path("serial.log"), 0, 1000).value().data;
    EXPECT_EQ(text.rfind("virtswarm-logd: this log reached 200 bytes and was truncated\n", 0), 0u)
        << text;
}

TEST_F(LogDir, OnlyAFileOpenForWritingIsAdopted) {
    ASSERT_TRUE(RotatingFile::open(path("x.log"), RotationPolicy{}));
    int readOnly = ::open(path("x.log").c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_FALSE(RotatingFile::adopt(readOnly, "x", RotationPolicy{}));
    int ends[2];
    ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
    ::close(ends[0]);
    EXPECT_FALSE(RotatingFile::adopt(ends[1], "a pipe", RotationPolicy{}));
}

TEST_F(LogDir, SlicesFromAnOffsetOrTheTail) {
    auto file = RotatingFile::open(path("vm.log"), RotationPolicy{});
    ASSERT_TRUE(file.value()->write("line one\nline two\n"));
    auto middle = readLogFile(path("vm.log"), 5, 3).value();
    EXPECT_EQ(middle.data, "one");
    EXPECT_EQ(middle.next, 8u);
    auto tail = readLogFile(path("vm.log"), kTail, 9).value();
    EXPECT_EQ(tail.data, "line two\n");
    EXPECT_EQ(tail.next, 18u);
    // Past the end (rotated since): nothing, and where the file ends now.
    auto past = readLogFile(path("vm.log"), 1000, 10).value();
    EXPECT_EQ(past.data, "");
    EXPECT_EQ(past.next, 18u);
    auto missing = readLogFile(path("none.log"), 0, 10).value();
    EXPECT_EQ(missing.data, "");
    EXPECT_EQ(missing.next, 0u);
}

// A datagram socket standing in for journald's.
class FakeJournal : public LogDir {
protected:
    void SetUp() override {
        LogDir::SetUp();
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::string socketPath = path("journal");
        std::strncpy(address.sun_path, socketPath.c_str(), sizeof address.sun_path - 1);
        ASSERT_EQ(::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        m_journal = JournalSocket::connect(socketPath);
        ASSERT_TRUE(m_journal);
    }
    void TearDown() override {
        ::close(m_fd);
        LogDir::TearDown();
    }
    std::vector<std::string> entries() {
        std::vector<std::string> out;
        char buffer[16384];
        for (ssize_t n; (n = ::recv(m_fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0;) {
            out.emplace_back(buffer, static_cast<size_t>(n));
        }
        return out;
    }

    int m_fd = -1;
    std::unique_ptr<JournalSocket> m_journal;
};

TEST_F(FakeJournal, EachLineIsAnEntryWithTheStreamsFields) {
    JournalLines lines({{"VIRTSWARM_DOMAIN", "vm1"}, {"VIRTSWARM_STREAM", "qemu"}});
    lines.feed("first line\nsecond ", m_journal.get());
    lines.feed("half\nrest", m_journal.get());
    auto sent = entries();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0], "PRIORITY=6\nVIRTSWARM_DOMAIN=vm1\nVIRTSWARM_STREAM=qemu\n"
                       "MESSAGE=first line\n");
    EXPECT_NE(sent[1].find("MESSAGE=second half\n"), std::string::npos);
    EXPECT_EQ(lines.partial(), "rest");
    lines.flush(m_journal.get());
    sent = entries();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_NE(sent[0].find("MESSAGE=rest\n"), std::string::npos);
}

TEST_F(FakeJournal, ALongLineGoesInPiecesAndNoJournalIsNoError) {
    JournalLines lines({});
    lines.feed(std::string(JournalLines::kMaxLine + 10, 'z'), m_journal.get());
    EXPECT_EQ(entries().size(), 1u);
    EXPECT_EQ(lines.partial().size(), 10u);
    lines.feed("\n", nullptr);
    EXPECT_TRUE(lines.partial().empty());
    EXPECT_FALSE(JournalSocket::connect(path("no-journal-here")));
}

TEST(LogdConfig, KeysValuesAndNamedErrors) {
    auto config = parseLogdConfig("# limits\nmax_size = 4096\n max_backups=5\nrate_limit = 0\n"
                                  "journal_socket = /run/j.sock # there\n");
    ASSERT_TRUE(config) << config.error().message();
    EXPECT_EQ(config.value().rotation.maxSize, 4096u);
    EXPECT_EQ(config.value().rotation.maxBackups, 5u);
    EXPECT_EQ(config.value().rateLimit, 0u);
    EXPECT_EQ(config.value().journalSocket, "/run/j.sock");
    EXPECT_EQ(parseLogdConfig("").value().rotation.maxSize, 2u * 1024 * 1024);
    for (const char* bad : {"max_size = 0", "max_size = -1", "max_size = 12k", "max_backups = 1001",
                            "colour = blue", "max_size", "journal_socket = relative"}) {
        auto refused = parseLogdConfig(bad);
        ASSERT_FALSE(refused) << bad;
        EXPECT_NE(refused.error().message().find("line 1"), std::string::npos) << bad;
    }
}

} // namespace
