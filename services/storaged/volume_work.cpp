// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_work.hpp"

#include "file_pool.hpp"
#include "qemu_img.hpp"
#include "tools.hpp"
#include "virtswarm/command.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>

namespace virtswarm::storage {
namespace {

void cancelThrough(Job& job, const std::shared_ptr<Command>& command) {
    std::weak_ptr<Command> weak = command;
    job.setCanceller([weak] {
        if (auto c = weak.lock()) {
            c->cancel();
        }
    });
}

Result<void> withoutOutput(Result<std::string> r) {
    return r ? success() : Result<void>(r.takeError());
}

// Writes into a partial volume with `command`, then commits it, or discards it on any
// failure or cancel (an empty command: nothing to write). The job ends only once the partial volume
// is committed or gone.
void writeThenCommit(EventLoop& loop, PoolBackend& pool, const VolumeDef& def,
                     std::function<std::vector<std::string>(const std::string& path)> command,
                     std::shared_ptr<Job> job, VolumeDone done) {
    pool.prepareVolume(def, [&loop, &pool, def, command, job, done](Result<std::string> path) {
        if (!path) {
            done(path.takeError());
            return;
        }
        if (job && job->cancelRequested()) {
            pool.discardVolume(def.name, [done](Result<void>) {
                done(Error(Code::OperationFailed, "cancelled"));
            });
            return;
        }
        auto argv = command(path.value());
        if (argv.empty()) {
            pool.commitVolume(def.name, done);
            return;
        }
        auto onLine = [job](std::string_view line) {
            if (auto fraction = parseQemuImgProgress(line); fraction && job) {
                job->setProgress(*fraction);
            }
        };
        auto running = Command::run(
            loop, std::move(argv),
            [&pool, name = def.name, done](Result<std::string> r) {
                if (!r) {
                    auto error = r.takeError();
                    pool.discardVolume(name, [done, error](Result<void>) { done(error); });
                    return;
                }
                pool.commitVolume(name, done);
            },
            onLine);
        if (job) {
            cancelThrough(*job, running);
        }
    });
}

// Moves the job's BytesDone from the size `measure` reads, every 250 ms while it runs (cp
// prints no progress). The job keeps it, so it stops when the job ends.
struct ByteFollower {
    EventLoop& loop;
    std::weak_ptr<Job> job;
    std::function<uint64_t()> measure;
    EventSource timer;

    void arm() {
        timer = loop.addTimer(std::chrono::milliseconds(250), [this] {
            if (auto j = job.lock()) {
                j->setBytesDone(measure());
            }
            arm();
        });
    }
};

void followBytes(EventLoop& loop, const std::shared_ptr<Job>& job,
                 std::function<uint64_t()> measure) {
    auto follower = std::make_shared<ByteFollower>(ByteFollower{loop, job, std::move(measure), {}});
    follower->arm();
    job->keepUntilDone(follower);
}

uint64_t sizeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// What a helper that wrote a whole new image beside a volume ends with: the new image
// flushed to the disk (`sync --data`, in a child: flushing a large upload must not stall
// the loop; cp itself does not flush), then renamed over the volume (one step: readers,
// and the volume after a crash, see the old or the new), or removed.
Command::Done replaceWhenDone(EventLoop& loop, const std::string& partial, const std::string& path,
                              VolumeDone done) {
    auto discard = [partial, done](Result<std::string> r) {
        std::remove(partial.c_str());
        done(withoutOutput(std::move(r)));
    };
    return [&loop, partial, path, done, discard](Result<std::string> written) {
        if (!written) {
            discard(std::move(written));
            return;
        }
        Command::run(loop, {tools::kSync, "--data", partial},
                     [partial, path, done, discard](Result<std::string> flushed) {
                         if (flushed && std::rename(partial.c_str(), path.c_str()) < 0) {
                             flushed =
                                 Error(Code::OperationFailed,
                                       "cannot replace " + path + ": " + std::strerror(errno));
                         }
                         if (!flushed) {
                             discard(std::move(flushed));
                             return;
                         }
                         done(withoutOutput(std::move(flushed)));
                     });
    };
}

constexpr const char* kCp = "/usr/bin/cp";
// The client's file as the helper sees it.
constexpr int kClientFd = 3;
constexpr const char* kClientPath = "/dev/fd/3";

} // namespace

Result<uint64_t> checkTransferFd(int fd, bool forWriting) {
    struct stat st {};
    if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        return Error(Code::InvalidArgs, "the file descriptor is not a regular file");
    }
    int mode = ::fcntl(fd, F_GETFL) & O_ACCMODE;
    if (forWriting ? mode == O_RDONLY : mode == O_WRONLY) {
        return Error(Code::InvalidArgs, std::string("the file descriptor is not open for ") +
                                            (forWriting ? "writing" : "reading"));
    }
    return static_cast<uint64_t>(st.st_size);
}

void uploadVolume(EventLoop& loop, PoolBackend& pool, const VolumeInfo& volume, int fd,
                  std::optional<uint64_t> at, const std::shared_ptr<Job>& job, VolumeDone done) {
    if (at) {
        auto running =
            Command::run(loop,
                         {tools::kDd, std::string("if=") + kClientPath, "of=" + volume.path,
                          "bs=1M", "seek=" + std::to_string(*at), "oflag=seek_bytes",
                          "conv=notrunc,fsync", "status=none"},
                         [done](Result<std::string> r) { done(withoutOutput(std::move(r))); }, {},
                         {{fd, kClientFd}});
        cancelThrough(*job, running);
        return;
    }
    if (!pool.fileVolumes()) {
        auto running = Command::run(
            loop,
            {tools::kQemuImg, "convert", "-p", "-n", "-f", "raw", "-O", "raw", kClientPath,
             volume.path},
            [done](Result<std::string> r) { done(withoutOutput(std::move(r))); },
            [job](std::string_view line) {
                if (auto fraction = parseQemuImgProgress(line)) {
                    job->setProgress(*fraction);
                }
            },
            {{fd, kClientFd}});
        cancelThrough(*job, running);
        return;
    }
    std::string partial = pool.volumePath(FilePool::partialName(volume.name));
    ::unlink(partial.c_str());
    auto running =
        Command::run(loop, {kCp, "--sparse=always", kClientPath, partial},
                     replaceWhenDone(loop, partial, volume.path, done), {}, {{fd, kClientFd}});
    cancelThrough(*job, running);
    followBytes(loop, job, [partial] { return sizeOf(partial); });
}

void downloadVolume(EventLoop& loop, const VolumeInfo& volume, int fd,
                    const std::shared_ptr<Job>& job, VolumeDone done) {
    auto running =
        Command::run(loop, {kCp, "--sparse=always", volume.path, kClientPath},
                     [done](Result<std::string> r) { done(withoutOutput(std::move(r))); }, {},
                     {{fd, kClientFd}});
    cancelThrough(*job, running);
    followBytes(loop, job, [fd] {
        struct stat st {};
        return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    });
}

void createVolume(EventLoop& loop, PoolBackend& pool, const VolumeDef& def, VolumeDone done) {
    if (!pool.fileVolumes()) {
        // lvcreate made the whole volume: nothing to write but the commit.
        writeThenCommit(
            loop, pool, def, [](const std::string&) { return std::vector<std::string>{}; }, nullptr,
            std::move(done));
        return;
    }
    writeThenCommit(
        loop, pool, def, [def](const std::string& path) { return qemu_img::createArgv(def, path); },
        nullptr, std::move(done));
}

void cloneVolume(EventLoop& loop, const VolumeInfo& source, PoolBackend& target,
                 const VolumeDef& def, const std::shared_ptr<Job>& job, VolumeDone done) {
    bool exists = !target.fileVolumes();
    writeThenCommit(
        loop, target, def,
        [source, format = def.format, exists](const std::string& path) {
            return qemu_img::convertArgv(source, format, path, exists);
        },
        job, std::move(done));
}

void wipeVolume(EventLoop& loop, PoolBackend& pool, const VolumeInfo& volume,
                const std::shared_ptr<Job>& job, VolumeDone done) {
    if (!pool.fileVolumes()) {
        auto running =
            Command::run(loop, {tools::kBlkdiscard, "-z", volume.path},
                         [done](Result<std::string> r) { done(withoutOutput(std::move(r))); });
        cancelThrough(*job, running);
        return;
    }
    VolumeDef fresh;
    fresh.name = volume.name;
    fresh.capacity = volume.capacity;
    fresh.format = volume.format;
    fresh.backingPath = volume.backingPath;
    fresh.backingFormat = volume.backingFormat;
    // The fresh image is written beside the old one and renamed over it: a wipe that
    // fails or is cancelled leaves the volume as it was.
    std::string partial = pool.volumePath(FilePool::partialName(volume.name));
    auto running = Command::run(loop, qemu_img::createArgv(fresh, partial),
                                replaceWhenDone(loop, partial, volume.path, done));
    cancelThrough(*job, running);
}

} // namespace virtswarm::storage
