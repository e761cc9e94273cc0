// SPDX-License-Identifier: LGPL-2.1-or-later
// Machine::stats: what libvirt's virDomainGetStats reports, from /proc and QMP.
#include "machine.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/libvirt_enums.hpp"

#include <unistd.h>

namespace virtswarm::shim {
namespace {

struct CpuTimes {
    uint64_t user = 0;
    uint64_t system = 0;
};

// utime and stime (fields 14 and 15 of /proc/<pid>/stat), in clock ticks.
CpuTimes cpuTimesOf(pid_t pid) {
    auto stat = readFile("/proc/" + std::to_string(pid) + "/stat", 65536);
    if (!stat) {
        return {};
    }
    const std::string& t = stat.value();
    size_t pos = t.rfind(')');
    if (pos == std::string::npos) {
        return {};
    }
    pos += 2;
    std::vector<std::string> fields;
    while (pos < t.size() && fields.size() < 14) {
        size_t end = t.find(' ', pos);
        fields.push_back(t.substr(pos, end - pos));
        pos = end == std::string::npos ? t.size() : end + 1;
    }
    if (fields.size() < 14) {
        return {};
    }
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    uint64_t tick = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    uint64_t nsPerTick = 1000000000ULL / (tick == 0 ? 100 : tick);
    return CpuTimes{std::stoull(fields[11]) * nsPerTick, std::stoull(fields[12]) * nsPerTick};
}

uint64_t jsonU64(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

} // namespace

Stats Machine::hostStats() const {
    const DomainDef& d = m_domain.def;
    Stats s;
    s.emplace_back("state.state", libvirtStateNumber(m_state));
    s.emplace_back("state.reason", libvirtReasonNumber(m_state, m_reason));
    if (m_pid > 0) {
        CpuTimes cpu = cpuTimesOf(m_pid);
        s.emplace_back("cpu.time", cpu.user + cpu.system);
        s.emplace_back("cpu.user", cpu.user);
        s.emplace_back("cpu.system", cpu.system);
    }
    s.emplace_back("balloon.current", d.currentMemoryKiB);
    s.emplace_back("balloon.maximum", d.memoryKiB);
    s.emplace_back("vcpu.current", static_cast<uint64_t>(d.vcpus));
    s.emplace_back("vcpu.maximum", static_cast<uint64_t>(d.vcpus));
    // A TAP's counters are the host's view (its rx is the guest's tx). User-mode
    // networking has no host-side device: names and MACs only, never invented numbers.
    s.emplace_back("net.count", static_cast<uint64_t>(d.interfaces.size()));
    for (size_t i = 0; i < d.interfaces.size(); ++i) {
        const auto& nic = d.interfaces[i];
        std::string prefix = "net." + std::to_string(i) + ".";
        s.emplace_back(prefix + "name",
                       nic.hostDevice.empty() ? "net" + std::to_string(i) : nic.hostDevice);
        s.emplace_back(prefix + "mac", nic.mac);
        if (nic.hostDevice.empty()) {
            continue;
        }
        auto counter = [&](const char* file) -> uint64_t {
            auto text = readFile("/sys/class/net/" + nic.hostDevice + "/statistics/" + file, 64);
            return text ? std::stoull(text.value()) : 0;
        };
        s.emplace_back(prefix + "rx.bytes", counter("tx_bytes"));
        s.emplace_back(prefix + "rx.pkts", counter("tx_packets"));
        s.emplace_back(prefix + "tx.bytes", counter("rx_bytes"));
        s.emplace_back(prefix + "tx.pkts", counter("rx_packets"));
    }
    return s;
}

void Machine::stats(std::function<void(Result<Stats>)> done) {
    Stats base = hostStats();
    if (m_pid <= 0) {
        done(std::move(base));
        return;
    }
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    done = withBalloonStats(std::move(done));
    // Always one round trip to QEMU, even for a guest without disks: statistics from a
    // QEMU that cannot answer would describe a VM nobody can vouch for.
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-status", nlohmann::json::object(),
                  [this, guard, base = std::move(base), done](Result<nlohmann::json> r) mutable {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!r) {
                          done(r.takeError().prefix("statistics"));
                          return;
                      }
                      if (m_domain.def.disks.empty()) {
                          base.emplace_back("block.count", uint64_t{0});
                          done(std::move(base));
                          return;
                      }
                      blockStats(std::move(base), std::move(done));
                  });
}

void Machine::blockStats(Stats base, std::function<void(Result<Stats>)> done) {
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-blockstats", nlohmann::json::object(),
                  [this, guard, base = std::move(base), done](Result<nlohmann::json> r) mutable {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!r) {
                          done(r.takeError().prefix("block statistics"));
                          return;
                      }
                      uint64_t n = 0;
                      for (const auto& dev : r.value()) {
                          // Boot-time disks have a named backend ("drive-vda");
                          // hotplugged ones only a device: /machine/peripheral/<id>/...
                          std::string drive = dev.value("device", "");
                          std::string qdev = dev.value("qdev", "");
                          std::string target;
                          if (drive.rfind("drive-", 0) == 0) {
                              target = drive.substr(6);
                          } else if (qdev.rfind("/machine/peripheral/", 0) == 0) {
                              target = qdev.substr(20, qdev.find('/', 20) - 20);
                          }
                          if (target.empty() || !dev.contains("stats")) {
                              continue;
                          }
                          const auto& st = dev["stats"];
                          std::string prefix = "block." + std::to_string(n++) + ".";
                          base.emplace_back(prefix + "name", target);
                          for (const auto& disk : m_domain.def.disks) {
                              if (disk.targetDev == target && !disk.source.empty()) {
                                  base.emplace_back(prefix + "path", disk.source);
                              }
                          }
                          base.emplace_back(prefix + "rd.reqs", jsonU64(st, "rd_operations"));
                          base.emplace_back(prefix + "rd.bytes", jsonU64(st, "rd_bytes"));
                          base.emplace_back(prefix + "wr.reqs", jsonU64(st, "wr_operations"));
                          base.emplace_back(prefix + "wr.bytes", jsonU64(st, "wr_bytes"));
                          base.emplace_back(prefix + "fl.reqs", jsonU64(st, "flush_operations"));
                      }
                      base.emplace_back("block.count", n);
                      done(std::move(base));
                  });
}

} // namespace virtswarm::shim
