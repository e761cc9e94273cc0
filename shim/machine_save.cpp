// SPDX-License-Identifier: LGPL-2.1-or-later
// Managed save and its restore: the guest's whole state streamed through QMP migrate into
// a file the registry opened, and read back by a new QEMU started with -incoming.
#include "machine.hpp"
#include "virtswarm/log.hpp"

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {
namespace {

constexpr auto kMigrationPoll = std::chrono::milliseconds(100);
// QEMU's default migration bandwidth (32 MiB/s) is meant for a live network migration;
// a paused guest written to a local file should go as fast as the disk takes it.
constexpr uint64_t kSaveBandwidth = 10ULL << 30;
constexpr const char* kSaveFdName = "managedsave";
// libvirt's virDomainJobType and virDomainJobOperation values.
constexpr int32_t kJobNone = 0;
constexpr int32_t kJobUnbounded = 2;
constexpr int32_t kJobCompleted = 3;
constexpr int32_t kOperationSave = 2;

// libvirt's name for each figure of QEMU's query-migrate "ram" part. Only memory is
// written, so libvirt's data_* (memory and disks) are the memory's figures.
constexpr std::pair<const char*, const char*> kRamFigures[] = {
    {"data_total", "total"},
    {"data_processed", "transferred"},
    {"data_remaining", "remaining"},
    {"memory_total", "total"},
    {"memory_processed", "transferred"},
    {"memory_remaining", "remaining"},
    {"memory_constant", "duplicate"},
    {"memory_normal", "normal"},
    {"memory_normal_bytes", "normal-bytes"},
    {"memory_dirty_rate", "dirty-pages-rate"},
    {"memory_iteration", "dirty-sync-count"},
    {"memory_postcopy_requests", "postcopy-requests"},
    {"memory_page_size", "page-size"},
};

// QEMU's figures of a finished migration, named as libvirt's completed job statistics
// (virsh domjobinfo --completed after a save).
Stats completedSaveJob(const nlohmann::json& migrate, uint64_t elapsedMs) {
    Stats job{{"type", kJobCompleted}, {"operation", kOperationSave}, {"time_elapsed", elapsedMs}};
    auto add = [&job](const char* key, const nlohmann::json& from, const char* field) {
        if (from.contains(field) && from[field].is_number_unsigned()) {
            job.emplace_back(key, from[field].get<uint64_t>());
        }
    };
    add("downtime", migrate, "downtime");
    add("setup_time", migrate, "setup-time");
    const auto& ram = migrate.value("ram", nlohmann::json::object());
    for (const auto& [key, field] : kRamFigures) {
        add(key, ram, field);
    }
    if (ram.contains("mbps") && ram["mbps"].is_number()) {
        // Megabits per second, as QEMU counts; libvirt reports bytes per second.
        job.emplace_back("memory_bps", static_cast<uint64_t>(ram["mbps"].get<double>() * 125000));
    }
    return job;
}

} // namespace

void Machine::setRestoreFd(int fd) {
    // Inherited by the shim; QEMU gets it by number, not by inheriting it again.
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    m_restoreFd = fd;
}

void Machine::addIncoming(std::vector<std::string>& argv, int childFd) {
    argv.emplace_back("-incoming");
    argv.emplace_back("fd:" + std::to_string(childFd));
}

void Machine::awaitRestore(std::function<void()> then) {
    if (!m_restoring) {
        then();
        return;
    }
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-status", nlohmann::json::object(),
                  [this, guard, then](Result<nlohmann::json> r) {
                      if (!guard.alive() || m_phase != MachinePhase::Launching) {
                          return;
                      }
                      if (!r) {
                          failStart(r.takeError().prefix("restoring the saved state"));
                          return;
                      }
                      // QEMU exits by itself if the image cannot be loaded.
                      if (r.value().value("status", "") != "inmigrate") {
                          log::info("saved state restored");
                          then();
                          return;
                      }
                      m_migrationPoll = m_loop.addTimer(kMigrationPoll, [this, guard, then] {
                          if (guard.alive()) {
                              awaitRestore(then);
                          }
                      });
                  });
}

void Machine::managedSave(int fd, ValuesDone finished) {
    // The reply carries the finished job's statistics; a failure, the error.
    Done done = [this, guard = m_lifetime.guard(), finished](Result<void> r) {
        if (!r) {
            finished(r.takeError());
            return;
        }
        finished(guard.alive() ? m_completedJob : Stats{});
    };
    if (inPhase({MachinePhase::Saving, MachinePhase::Saved})) {
        ::close(fd);
        done(Error(Code::InvalidState, "a managed save is already in progress"));
        return;
    }
    if (m_state != "running" && m_state != "paused") {
        ::close(fd);
        done(Error(Code::InvalidState, "domain is not running"));
        return;
    }
    if (auto r = enter(MachinePhase::Saving); !r) {
        ::close(fd);
        done(r.error());
        return;
    }
    bool wasRunning = m_state == "running";
    m_saveStarted = std::chrono::steady_clock::now();
    m_saveAborted = false;
    auto guard = m_lifetime.guard();
    auto fail = [this, guard, wasRunning, done](Error error) {
        if (!guard.alive()) {
            return;
        }
        // The guest goes on as it is now (paused if the stop came through; `cont` and its
        // RESUME bring it back to running).
        if (m_phase == MachinePhase::Saving) {
            (void)enter(m_state == "running" ? MachinePhase::Running : MachinePhase::Paused);
        }
        log::error("managed save failed: " + error.message());
        if (wasRunning) {
            m_qmp.execute("cont", nlohmann::json::object(), [](Result<nlohmann::json>) {});
        }
        done(error.prefix("managed save"));
    };
    // Paused first, so what is written is one consistent instant of the guest.
    m_qmp.execute("stop", nlohmann::json::object(),
                  [this, guard, fd, fail, done](Result<nlohmann::json> stopped) {
                      if (!guard.alive()) {
                          ::close(fd);
                          return;
                      }
                      if (!stopped) {
                          ::close(fd);
                          fail(stopped.takeError());
                          return;
                      }
                      m_qmp.execute("migrate-set-parameters", {{"max-bandwidth", kSaveBandwidth}},
                                    [](Result<nlohmann::json>) {});
                      m_qmp.executeWithFd(
                          "getfd", {{"fdname", kSaveFdName}}, fd,
                          [this, guard, fail, done](Result<nlohmann::json> passed) {
                              if (!guard.alive()) {
                                  return;
                              }
                              if (!passed) {
                                  fail(passed.takeError());
                                  return;
                              }
                              m_qmp.execute(
                                  "migrate", {{"uri", std::string("fd:") + kSaveFdName}},
                                  [this, guard, fail, done](Result<nlohmann::json> started) {
                                      if (!guard.alive()) {
                                          return;
                                      }
                                      if (!started) {
                                          fail(started.takeError());
                                          return;
                                      }
                                      awaitSaved(fail, done);
                                  });
                          });
                      ::close(fd); // the monitor sent its own copy
                  });
}

void Machine::awaitSaved(std::function<void(Error)> fail, Done done) {
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-migrate", nlohmann::json::object(),
                  [this, guard, fail, done](Result<nlohmann::json> r) {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!r) {
                          fail(r.takeError());
                          return;
                      }
                      std::string status = r.value().value("status", "");
                      if (status == "completed") {
                          log::info("managed save written; stopping QEMU");
                          m_completedJob = completedSaveJob(r.value(), savingForMs());
                          if (auto saved = enter(MachinePhase::Saved); !saved) {
                              fail(saved.error());
                              return;
                          }
                          // Replied once QEMU is gone and the domain is shut off (saved).
                          m_destroyWaiters.push_back(done);
                          m_qmp.execute("quit", nlohmann::json::object(),
                                        [this, guard](Result<nlohmann::json> q) {
                                            if (guard.alive() && !q && m_pid > 0) {
                                                ::kill(m_pid, SIGKILL);
                                            }
                                        });
                          return;
                      }
                      if (status == "cancelled" && m_saveAborted) {
                          fail(Error(Code::OperationFailed, "job canceled by client"));
                          return;
                      }
                      if (status == "failed" || status == "cancelled") {
                          fail(Error(Code::OperationFailed,
                                     "QEMU: " + r.value().value("error-desc", status)));
                          return;
                      }
                      m_migrationPoll = m_loop.addTimer(kMigrationPoll, [this, guard, fail, done] {
                          if (guard.alive()) {
                              awaitSaved(fail, done);
                          }
                      });
                  });
}

void Machine::jobInfo(std::function<void(Result<Stats>)> done) {
    if (m_phase != MachinePhase::Saving) {
        done(Stats{{"type", kJobNone}});
        return;
    }
    uint64_t elapsed = savingForMs();
    m_qmp.execute(
        "query-migrate", nlohmann::json::object(), [done, elapsed](Result<nlohmann::json> r) {
            Stats job{
                {"type", kJobUnbounded}, {"operation", kOperationSave}, {"time_elapsed", elapsed}};
            if (r) {
                const auto& ram = r.value().value("ram", nlohmann::json::object());
                for (const auto& [key, field] : {std::pair{"memory_total", "total"},
                                                 std::pair{"memory_processed", "transferred"},
                                                 std::pair{"memory_remaining", "remaining"}}) {
                    if (ram.contains(field) && ram[field].is_number_unsigned()) {
                        job.emplace_back(key, ram[field].get<uint64_t>());
                    }
                }
            }
            done(std::move(job));
        });
}

uint64_t Machine::savingForMs() const {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - m_saveStarted)
                                     .count());
}

void Machine::abortJob(Done done) {
    if (m_phase != MachinePhase::Saving) {
        done(Error(Code::InvalidState, "no job is active on the domain"));
        return;
    }
    m_saveAborted = true;
    m_qmp.execute("migrate_cancel", nlohmann::json::object(), [done](Result<nlohmann::json> r) {
        done(r ? success() : Result<void>(r.takeError().prefix("aborting the managed save")));
    });
}

} // namespace virtswarm::shim
