// SPDX-License-Identifier: LGPL-2.1-or-later
#include "accounting.hpp"

#include "qemu_ids.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/proc_text.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::shim::accounting {
namespace {

std::string taskDir(pid_t pid, pid_t tid) {
    std::string dir = "/proc/" + std::to_string(pid);
    return tid > 0 ? dir + "/task/" + std::to_string(tid) : dir;
}

std::optional<std::string> readSmall(const std::string& path) {
    auto text = readFile(path, 65536);
    return text ? std::optional<std::string>(std::move(text).value()) : std::nullopt;
}

// A counter of a QMP answer; absent, negative (QEMU's "unknown") or not a number: 0.
uint64_t jsonU64(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer() ||
        (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
        return 0;
    }
    return it->get<uint64_t>();
}

// Counters of a host network device (/sys/class/net/<dev>/statistics).
std::optional<uint64_t> netCounter(const std::string& device, const char* file) {
    auto text = readSmall("/sys/class/net/" + device + "/statistics/" + file);
    if (!text) {
        return std::nullopt;
    }
    return proctext::leadingU64(proctext::trim(*text));
}

} // namespace

std::optional<TaskStat> parseTaskStat(std::string_view text, long ticksPerSecond) {
    // The command name (field 2) may hold spaces and parentheses: fields start after the
    // last ')'.
    size_t pos = text.rfind(')');
    if (pos == std::string_view::npos || pos + 2 > text.size()) {
        return std::nullopt;
    }
    std::vector<std::string_view> fields; // fields[0] is field 3 (state)
    std::string_view rest = text.substr(pos + 2);
    while (!rest.empty() && fields.size() < 37) {
        size_t end = rest.find(' ');
        fields.push_back(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    if (fields.size() < 13) {
        return std::nullopt;
    }
    auto utime = proctext::leadingU64(fields[11]); // field 14
    auto stime = proctext::leadingU64(fields[12]); // field 15
    if (!utime || !stime) {
        return std::nullopt;
    }
    uint64_t nsPerTick =
        1000000000ULL / static_cast<uint64_t>(ticksPerSecond > 0 ? ticksPerSecond : 100);
    TaskStat t{*utime * nsPerTick, *stime * nsPerTick, -1};
    if (fields.size() >= 37) {
        if (auto cpu = proctext::leadingU64(fields[36])) { // field 39
            t.processor = static_cast<int32_t>(*cpu);
        }
    }
    return t;
}

std::optional<uint64_t> parseSchedstatDelay(std::string_view text) {
    size_t first = text.find(' ');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(first + 1);
    return proctext::leadingU64(rest.substr(0, rest.find(' ')));
}

std::optional<uint64_t> parseVmRssKiB(std::string_view status) {
    size_t pos = status.find("\nVmRSS:");
    if (pos == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = status.substr(pos + 7);
    size_t digits = rest.find_first_of("0123456789");
    if (digits == std::string_view::npos) {
        return std::nullopt;
    }
    rest = rest.substr(digits);
    return proctext::leadingU64(rest.substr(0, rest.find(' ')));
}

std::string cpuListString(const std::vector<int>& cpus) {
    std::string out;
    for (size_t i = 0; i < cpus.size();) {
        size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
            ++j;
        }
        out += (out.empty() ? "" : ",") + std::to_string(cpus[i]);
        if (j > i) {
            out += "-" + std::to_string(cpus[j]);
        }
        i = j + 1;
    }
    return out;
}

std::optional<TaskStat> readTaskStat(pid_t pid, pid_t tid) {
    auto text = readSmall(taskDir(pid, tid) + "/stat");
    return text ? parseTaskStat(*text, ::sysconf(_SC_CLK_TCK)) : std::nullopt;
}

std::optional<uint64_t> readSchedstatDelay(pid_t pid, pid_t tid) {
    auto text = readSmall(taskDir(pid, tid) + "/schedstat");
    return text ? parseSchedstatDelay(*text) : std::nullopt;
}

std::optional<uint64_t> readVmRssKiB(pid_t pid) {
    auto text = readSmall(taskDir(pid, 0) + "/status");
    return text ? parseVmRssKiB(*text) : std::nullopt;
}

std::vector<int> readAffinity(pid_t tid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(tid, sizeof set, &set) != 0) {
        return cpus;
    }
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) {
            cpus.push_back(c);
        }
    }
    return cpus;
}

std::string diskTargetOf(const nlohmann::json& entry) {
    std::string drive = entry.value("device", "");
    std::string qdev = entry.value("qdev", "");
    if (auto disk = qemu_id::diskOfNode(drive)) {
        return *disk;
    }
    constexpr std::string_view kPeripheral = "/machine/peripheral/";
    if (qdev.rfind(kPeripheral, 0) == 0) {
        return qdev.substr(kPeripheral.size(),
                           qdev.find('/', kPeripheral.size()) - kPeripheral.size());
    }
    return "";
}

void addCpuStats(Stats& s, pid_t pid) {
    auto cpu = readTaskStat(pid);
    if (!cpu) {
        return;
    }
    s.emplace_back("cpu.time", cpu->userNs + cpu->systemNs);
    s.emplace_back("cpu.user", cpu->userNs);
    s.emplace_back("cpu.system", cpu->systemNs);
}

void addVcpuStats(Stats& s, pid_t pid, uint32_t vcpus, const nlohmann::json& cpusFast) {
    uint64_t online = cpusFast.is_array() ? cpusFast.size() : 0;
    s.emplace_back("vcpu.current", online);
    s.emplace_back("vcpu.maximum", static_cast<uint64_t>(vcpus));
    if (!cpusFast.is_array()) {
        return;
    }
    for (const auto& cpu : cpusFast) {
        auto thread = cpu.find("thread-id");
        if (!cpu.contains("cpu-index") || thread == cpu.end() || !thread->is_number_integer()) {
            continue;
        }
        std::string n = std::to_string(jsonU64(cpu, "cpu-index"));
        auto tid = static_cast<pid_t>(thread->get<int64_t>());
        // VIR_VCPU_RUNNING: an online vCPU, whether the guest is paused or not (as libvirt).
        s.emplace_back("vcpu." + n + ".state", int32_t{1});
        auto stat = readTaskStat(pid, tid);
        if (stat) {
            s.emplace_back("vcpu." + n + ".time", stat->userNs + stat->systemNs);
            s.emplace_back("vcpuhost." + n + ".cpu", stat->processor);
        }
        if (auto delay = readSchedstatDelay(pid, tid)) {
            s.emplace_back("vcpu." + n + ".delay", *delay);
        }
        if (auto cpus = readAffinity(tid); !cpus.empty()) {
            s.emplace_back("vcpuhost." + n + ".affinity", cpuListString(cpus));
        }
    }
}

void addBalloonStats(Stats& s, pid_t pid, const DomainDef& def,
                     const std::optional<nlohmann::json>& balloon) {
    uint64_t current = def.currentMemoryKiB;
    if (balloon && balloon->contains("actual")) {
        current = jsonU64(*balloon, "actual") / 1024;
    }
    s.emplace_back("balloon.current", current);
    s.emplace_back("balloon.maximum", def.memoryKiB);
    if (auto rss = readVmRssKiB(pid)) {
        s.emplace_back("balloon.rss", *rss);
    }
}

void addBlockStats(Stats& s, const DomainDef& def, const nlohmann::json& blockstats,
                   const nlohmann::json& blocks) {
    uint64_t n = 0;
    for (const auto& dev : blockstats) {
        std::string target = diskTargetOf(dev);
        if (target.empty() || !dev.contains("stats")) {
            continue;
        }
        const auto& st = dev["stats"];
        std::string prefix = "block." + std::to_string(n++) + ".";
        s.emplace_back(prefix + "name", target);
        std::string source;
        for (const auto& disk : def.disks) {
            if (disk.targetDev == target && !disk.source.empty()) {
                source = disk.source;
                s.emplace_back(prefix + "path", source);
            }
        }
        s.emplace_back(prefix + "rd.reqs", jsonU64(st, "rd_operations"));
        s.emplace_back(prefix + "rd.bytes", jsonU64(st, "rd_bytes"));
        s.emplace_back(prefix + "rd.times", jsonU64(st, "rd_total_time_ns"));
        s.emplace_back(prefix + "wr.reqs", jsonU64(st, "wr_operations"));
        s.emplace_back(prefix + "wr.bytes", jsonU64(st, "wr_bytes"));
        s.emplace_back(prefix + "wr.times", jsonU64(st, "wr_total_time_ns"));
        s.emplace_back(prefix + "fl.reqs", jsonU64(st, "flush_operations"));
        s.emplace_back(prefix + "fl.times", jsonU64(st, "flush_total_time_ns"));
        for (const auto& block : blocks) {
            if (diskTargetOf(block) != target || !block.contains("inserted")) {
                continue;
            }
            const auto& image = block["inserted"].value("image", nlohmann::json::object());
            uint64_t capacity = jsonU64(image, "virtual-size");
            uint64_t allocation = jsonU64(image, "actual-size");
            s.emplace_back(prefix + "capacity", capacity);
            s.emplace_back(prefix + "allocation", allocation);
            // The container's size: the file (or block device) on the host.
            struct stat file {};
            uint64_t physical = allocation;
            if (!source.empty() && ::stat(source.c_str(), &file) == 0) {
                physical = static_cast<uint64_t>(file.st_size);
            }
            s.emplace_back(prefix + "physical", physical);
        }
    }
    s.emplace_back("block.count", n);
}

void addNetStats(Stats& s, const DomainDef& def) {
    s.emplace_back("net.count", static_cast<uint64_t>(def.interfaces.size()));
    for (size_t i = 0; i < def.interfaces.size(); ++i) {
        const auto& nic = def.interfaces[i];
        std::string prefix = "net." + std::to_string(i) + ".";
        s.emplace_back(prefix + "name",
                       nic.hostDevice.empty() ? qemu_id::bootNic(i) : nic.hostDevice);
        s.emplace_back(prefix + "mac", nic.mac);
        if (nic.hostDevice.empty()) {
            continue;
        }
        struct Counter {
            const char* key;
            const char* hostFile; // the other direction, seen from the host
        };
        static constexpr Counter kCounters[] = {
            {"rx.bytes", "tx_bytes"},  {"rx.pkts", "tx_packets"}, {"rx.errs", "tx_errors"},
            {"rx.drop", "tx_dropped"}, {"tx.bytes", "rx_bytes"},  {"tx.pkts", "rx_packets"},
            {"tx.errs", "rx_errors"},  {"tx.drop", "rx_dropped"},
        };
        for (const auto& c : kCounters) {
            if (auto v = netCounter(nic.hostDevice, c.hostFile)) {
                s.emplace_back(prefix + c.key, *v);
            }
        }
    }
}

} // namespace virtswarm::shim::accounting
