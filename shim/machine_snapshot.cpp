// SPDX-License-Identifier: LGPL-2.1-or-later
// Internal snapshots of a running guest: QEMU's snapshot-save and snapshot-delete jobs,
// which write and drop the guest's memory and every writable disk's state inside the
// qcow2 images under one tag (a revert starts a new QEMU with -loadvm, as libvirt does). The jobs
// run in QEMU's main loop while the monitor keeps answering, so a long save never blocks the shim's
// other calls. What a snapshot is and which exist is the registry's (snapshot metadata); the shim
// only carries the operation out.
#include "machine.hpp"
#include "virtswarm/log.hpp"

namespace virtswarm::shim {
namespace {

constexpr auto kJobPoll = std::chrono::milliseconds(100);
// Every job command is answered at once; the job itself may run for minutes.
constexpr const char* kJobId = "virtswarm-snapshot";

// The block nodes an internal snapshot covers: every image the guest can write (a cdrom
// or a read-only disk has nothing to roll back). QEMU's own rule is that every one of them
// must be able to hold internal snapshots, which only qcow2 can.
Result<std::vector<std::string>> snapshotNodes(const nlohmann::json& blocks) {
    std::vector<std::string> nodes;
    if (!blocks.is_array()) {
        return Error(Code::OperationFailed, "QEMU's query-block answer is not a list");
    }
    for (const auto& block : blocks) {
        if (!block.is_object() || !block.contains("inserted") || !block["inserted"].is_object()) {
            continue;
        }
        const auto& inserted = block["inserted"];
        if (inserted.value("ro", false)) {
            continue;
        }
        std::string device = block.value("device", block.value("qdev", std::string("?")));
        if (inserted.value("drv", "") != "qcow2") {
            return Error(Code::ConfigUnsupported,
                         "internal snapshot for disk '" + device +
                             "' unsupported for storage type " +
                             inserted.value("drv", std::string("unknown")) +
                             " (every writable disk must be qcow2)");
        }
        std::string node = inserted.value("node-name", "");
        if (node.empty()) {
            return Error(Code::OperationFailed, "QEMU names no block node for '" + device + "'");
        }
        nodes.push_back(node);
    }
    if (nodes.empty()) {
        return Error(Code::ConfigUnsupported,
                     "an internal snapshot with memory needs a writable qcow2 disk to hold it");
    }
    return nodes;
}

} // namespace

Result<void> Machine::checkSnapshotName(const std::string& name) {
    if (name.empty() || name.size() > kMaxSnapshotName) {
        return Error(Code::InvalidArgs,
                     "a snapshot name is 1 to " + std::to_string(kMaxSnapshotName) + " bytes long");
    }
    return success();
}

void Machine::snapshotSave(const std::string& name, Done done) {
    runSnapshotJob("snapshot-save", name, std::move(done));
}

void Machine::snapshotDelete(const std::string& name, Done done) {
    runSnapshotJob("snapshot-delete", name, std::move(done));
}

Result<Machine::Done> Machine::beginSnapshotJob(const std::string& what, const Done& done) {
    if (!inPhase({MachinePhase::Running, MachinePhase::Paused})) {
        return Error(Code::InvalidState, "domain is not running");
    }
    if (m_snapshotJob) {
        return Error(Code::InvalidState, "another snapshot operation is in progress");
    }
    m_snapshotJob = true;
    auto guard = m_lifetime.guard();
    return Done([this, guard, what, done](Result<void> r) {
        if (guard.alive()) {
            m_snapshotJob = false;
        }
        if (!r) {
            log::error(what + " failed: " + r.error().message());
        }
        done(std::move(r));
    });
}

void Machine::runSnapshotJob(const std::string& command, const std::string& name, Done done) {
    if (auto r = checkSnapshotName(name); !r) {
        done(r);
        return;
    }
    auto begun = beginSnapshotJob(command, done);
    if (!begun) {
        done(begun.takeError());
        return;
    }
    auto guard = m_lifetime.guard();
    Done finish = std::move(begun).value();
    m_qmp.execute(
        "query-block", nlohmann::json::object(),
        [this, guard, command, name, finish](Result<nlohmann::json> blocks) {
            if (!guard.alive()) {
                return;
            }
            if (!blocks) {
                finish(blocks.takeError());
                return;
            }
            auto nodes = snapshotNodes(blocks.value());
            if (!nodes) {
                finish(nodes.takeError());
                return;
            }
            nlohmann::json args{{"job-id", kJobId}, {"tag", name}, {"devices", nodes.value()}};
            if (command == "snapshot-save") {
                args["vmstate"] = nodes.value().front();
            }
            m_qmp.execute(command, args, [this, guard, finish](Result<nlohmann::json> r) {
                if (!guard.alive()) {
                    return;
                }
                if (!r) {
                    finish(r.takeError());
                    return;
                }
                awaitSnapshotJob(finish);
            });
        });
}

void Machine::awaitSnapshotJob(Done done) {
    auto guard = m_lifetime.guard();
    m_qmp.execute(
        "query-jobs", nlohmann::json::object(), [this, guard, done](Result<nlohmann::json> r) {
            if (!guard.alive()) {
                return;
            }
            if (!r) {
                done(r.takeError());
                return;
            }
            const nlohmann::json* job = nullptr;
            if (r.value().is_array()) {
                for (const auto& j : r.value()) {
                    if (j.is_object() && j.value("id", "") == kJobId) {
                        job = &j;
                    }
                }
            }
            if (job == nullptr) {
                done(Error(Code::OperationFailed, "QEMU lost the snapshot job"));
                return;
            }
            if (job->value("status", "") != "concluded") {
                m_snapshotPoll = m_loop.addTimer(kJobPoll, [this, guard, done] {
                    if (guard.alive()) {
                        awaitSnapshotJob(done);
                    }
                });
                return;
            }
            std::optional<Error> failed;
            if (job->contains("error")) {
                failed = Error(Code::OperationFailed,
                               "QEMU: " + job->value("error", std::string("failed")));
            }
            m_qmp.execute("job-dismiss", {{"id", kJobId}}, [done, failed](Result<nlohmann::json>) {
                done(failed ? Result<void>(*failed) : success());
            });
        });
}

void Machine::addLoadSnapshot(std::vector<std::string>& argv) const {
    if (!m_loadSnapshot.empty()) {
        argv.insert(argv.end(), {"-loadvm", m_loadSnapshot});
    }
}

} // namespace virtswarm::shim
