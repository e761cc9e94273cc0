// SPDX-License-Identifier: LGPL-2.1-or-later
#include "logical_pool.hpp"

#include "tools.hpp"
#include "virtswarm/command.hpp"

#include <charconv>
#include <sstream>

namespace virtswarm::storage {
namespace {

uint64_t number(std::string_view text) {
    while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

std::vector<std::string> splitFields(const std::string& line) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, ',')) {
        size_t first = field.find_first_not_of(' ');
        out.push_back(first == std::string::npos ? "" : field.substr(first));
    }
    return out;
}

} // namespace

std::string LogicalPool::volumePath(const std::string& name) const {
    return m_def.targetPath + "/" + name;
}

void LogicalPool::build(Done done) {
    if (m_def.sourceDevices.empty()) {
        m_loop.defer([done] {
            done(Error(Code::InvalidArgs, "building a logical pool needs <source><device>s"));
        });
        return;
    }
    std::vector<std::vector<std::string>> steps;
    for (const auto& device : m_def.sourceDevices) {
        steps.push_back({tools::kPvcreate, "-y", device});
    }
    std::vector<std::string> vgcreate{tools::kVgcreate, m_def.sourceName};
    vgcreate.insert(vgcreate.end(), m_def.sourceDevices.begin(), m_def.sourceDevices.end());
    steps.push_back(vgcreate);
    runSequence(m_loop, std::move(steps), std::move(done));
}

void LogicalPool::start(Done done) {
    runSequence(m_loop, {{tools::kVgchange, "-ay", m_def.sourceName}}, std::move(done));
}

void LogicalPool::stop(Done done) {
    runSequence(m_loop, {{tools::kVgchange, "-an", m_def.sourceName}}, std::move(done));
}

void LogicalPool::deleteStorage(Done done) {
    std::vector<std::vector<std::string>> steps{{tools::kVgremove, "-f", m_def.sourceName}};
    for (const auto& device : m_def.sourceDevices) {
        steps.push_back({tools::kPvremove, "-y", device});
    }
    runSequence(m_loop, std::move(steps), std::move(done));
}

void LogicalPool::refresh(bool removePartial, std::function<void(Result<PoolContents>)> done) {
    auto contents = std::make_shared<PoolContents>();
    std::vector<std::string> vgs{tools::kVgs,       "--noheadings",  "--units", "b",
                                 "--nosuffix",      "--separator",   ",",       "-o",
                                 "vg_size,vg_free", m_def.sourceName};
    Command::run(m_loop, vgs, [this, contents, removePartial, done](Result<std::string> out) {
        if (!out) {
            done(out.takeError());
            return;
        }
        auto fields = splitFields(out.value());
        if (fields.size() < 2) {
            done(Error(Code::OperationFailed, "vgs gave no sizes for " + m_def.sourceName));
            return;
        }
        contents->sizes.capacity = number(fields[0]);
        contents->sizes.available = number(fields[1]);
        contents->sizes.allocation = contents->sizes.capacity - contents->sizes.available;
        std::vector<std::string> lvs{tools::kLvs,
                                     "--noheadings",
                                     "--units",
                                     "b",
                                     "--nosuffix",
                                     "--separator",
                                     ",",
                                     "-o",
                                     "lv_name,lv_size,lv_tags",
                                     m_def.sourceName};
        Command::run(m_loop, lvs, [this, contents, removePartial, done](Result<std::string> list) {
            if (!list) {
                done(list.takeError());
                return;
            }
            std::vector<std::vector<std::string>> removals;
            std::istringstream lines(list.value());
            std::string line;
            while (std::getline(lines, line)) {
                auto f = splitFields(line);
                if (f.size() < 3 || f[0].empty()) {
                    continue;
                }
                if (f[2].find(kPartialTag) != std::string::npos) {
                    removals.push_back({tools::kLvremove, "-f", lv(f[0])});
                    continue;
                }
                VolumeInfo volume;
                volume.name = f[0];
                volume.path = volumePath(f[0]);
                volume.capacity = number(f[1]);
                volume.allocation = volume.capacity;
                contents->volumes.push_back(std::move(volume));
            }
            if (!removePartial) {
                removals.clear();
            }
            runSequence(m_loop, std::move(removals), [contents, done](Result<void> r) {
                if (!r) {
                    done(r.takeError());
                    return;
                }
                done(std::move(*contents));
            });
        });
    });
}

void LogicalPool::prepareVolume(const VolumeDef& def,
                                std::function<void(Result<std::string>)> done) {
    if (def.format != VolumeFormat::Raw) {
        m_loop.defer(
            [done] { done(Error(Code::NotSupported, "volumes of a logical pool are raw")); });
        return;
    }
    // LVM allocates in extents; a size below one extent is rounded up by lvcreate.
    std::vector<std::string> argv{tools::kLvcreate,
                                  "-y",
                                  "--addtag",
                                  kPartialTag,
                                  "-n",
                                  def.name,
                                  "-L",
                                  std::to_string(def.capacity) + "b",
                                  m_def.sourceName};
    std::string path = volumePath(def.name);
    runSequence(m_loop, {argv}, [done, path](Result<void> r) {
        if (!r) {
            done(r.takeError());
            return;
        }
        done(path);
    });
}

void LogicalPool::commitVolume(const std::string& name, Done done) {
    runSequence(m_loop, {{tools::kLvchange, "--deltag", kPartialTag, lv(name)}}, std::move(done));
}

void LogicalPool::discardVolume(const std::string& name, Done done) {
    deleteVolume(name, std::move(done));
}

void LogicalPool::deleteVolume(const std::string& name, Done done) {
    runSequence(m_loop, {{tools::kLvremove, "-f", lv(name)}}, std::move(done));
}

void LogicalPool::resizeVolume(const VolumeInfo& volume, uint64_t capacity, Done done) {
    std::vector<std::string> argv{tools::kLvresize, "-y"};
    if (capacity < volume.capacity) {
        argv.push_back("-f"); // lvresize asks before shrinking; the caller said so explicitly
    }
    argv.insert(argv.end(), {"-L", std::to_string(capacity) + "b", lv(volume.name)});
    runSequence(m_loop, {argv}, std::move(done));
}

} // namespace virtswarm::storage
