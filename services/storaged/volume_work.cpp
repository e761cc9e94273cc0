// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_work.hpp"

#include "command.hpp"
#include "file_pool.hpp"
#include "qemu_img.hpp"
#include "tools.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

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

} // namespace

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
    auto running =
        Command::run(loop, qemu_img::createArgv(fresh, partial),
                     [done, partial, path = volume.path](Result<std::string> r) {
                         if (r && std::rename(partial.c_str(), path.c_str()) < 0) {
                             r = Error(Code::OperationFailed,
                                       "cannot replace " + path + ": " + std::strerror(errno));
                         }
                         if (!r) {
                             std::remove(partial.c_str());
                         }
                         done(withoutOutput(std::move(r)));
                     });
    cancelThrough(*job, running);
}

} // namespace virtswarm::storage
