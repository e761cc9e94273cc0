// SPDX-License-Identifier: LGPL-2.1-or-later
// Live vCPU hotplug: libvirt's virDomainSetVcpusFlags with AFFECT_LIVE (virsh setvcpus
// --live). QEMU boots with <vcpu current> of the <vcpu> maximum online (-smp N,maxcpus=M)
// and lists every CPU slot in query-hotpluggable-cpus, a plugged one with its QOM path.
// More vCPUs go into the free slots in topology order, as CPU devices named vcpu<N>;
// fewer remove the newest such devices, each released by the guest (ACPI eject) as a
// device detach is. The CPUs QEMU booted with are not devices and cannot be removed, as
// in libvirt.
#include "machine.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/domain_tuning.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <tuple>

namespace virtswarm::shim {
namespace {

// Where QEMU puts a device given an id: the CPUs added here.
constexpr std::string_view kPeripheral = "/machine/peripheral/";

struct CpuSlot {
    std::string type;
    nlohmann::json props; // socket-id, die-id, core-id, thread-id
    std::string qomPath;  // empty: free
};

Result<std::vector<CpuSlot>> cpuSlots(const nlohmann::json& answer) {
    if (!answer.is_array()) {
        return Error(Code::OperationFailed, "QEMU's query-hotpluggable-cpus answer is not a list");
    }
    std::vector<CpuSlot> slots;
    for (const auto& entry : answer) {
        if (!entry.is_object() || !entry.contains("type") || !entry["type"].is_string() ||
            !entry.contains("props") || !entry["props"].is_object()) {
            return Error(Code::OperationFailed, "QEMU lists a CPU slot without type or props");
        }
        CpuSlot slot{entry["type"].get<std::string>(), entry["props"], ""};
        if (entry.contains("qom-path") && entry["qom-path"].is_string()) {
            slot.qomPath = entry["qom-path"].get<std::string>();
        }
        slots.push_back(std::move(slot));
    }
    // QEMU lists them newest first; vCPU numbers follow the topology.
    auto position = [](const CpuSlot& slot) {
        auto id = [&](const char* key) { return slot.props.value(key, int64_t{0}); };
        return std::make_tuple(id("socket-id"), id("die-id"), id("core-id"), id("thread-id"));
    };
    std::sort(slots.begin(), slots.end(),
              [&](const CpuSlot& a, const CpuSlot& b) { return position(a) < position(b); });
    return slots;
}

uint32_t onlineCount(const std::vector<CpuSlot>& slots) {
    return static_cast<uint32_t>(std::count_if(
        slots.begin(), slots.end(), [](const CpuSlot& s) { return !s.qomPath.empty(); }));
}

// The steps from what runs to `count` online vCPUs.
Result<std::vector<VcpuStep>> vcpuSteps(const std::vector<CpuSlot>& slots, uint32_t count) {
    size_t online = static_cast<size_t>(std::count_if(
        slots.begin(), slots.end(), [](const CpuSlot& s) { return !s.qomPath.empty(); }));
    std::vector<VcpuStep> steps;
    for (size_t i = 0; i < slots.size() && online + steps.size() < count; ++i) {
        if (slots[i].qomPath.empty()) {
            nlohmann::json device = slots[i].props;
            device["driver"] = slots[i].type;
            device["id"] = qemu_id::vcpu(i);
            steps.push_back({true, std::move(device), ""});
        }
    }
    if (online + steps.size() < count) {
        return Error(Code::InvalidArgs, "QEMU has no free slot for vCPU " + std::to_string(count));
    }
    for (size_t i = slots.size(); i-- > 0 && online - steps.size() > count;) {
        const std::string& path = slots[i].qomPath;
        if (path.empty()) {
            continue;
        }
        if (path.rfind(kPeripheral, 0) != 0) {
            return Error(Code::OperationUnsupported,
                         "vcpu '" + std::to_string(i) +
                             "' can't be hot-unplugged: only vCPUs added while the domain runs "
                             "can be removed");
        }
        steps.push_back({false, nlohmann::json(), path.substr(kPeripheral.size())});
    }
    return steps;
}

} // namespace

void Machine::setVcpus(uint32_t count, Done done) {
    if (count == 0 || count > m_domain.def.vcpus) {
        done(Error(Code::InvalidArgs,
                   "requested vcpus is greater than max allowable vcpus for the live domain: " +
                       std::to_string(count) + " > " + std::to_string(m_domain.def.vcpus)));
        return;
    }
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    if (m_vcpuChange) {
        done(Error(Code::InvalidState, "another vCPU change is in progress"));
        return;
    }
    m_vcpuChange = true;
    auto guard = m_lifetime.guard();
    auto finish = [this, guard, done](Result<void> r) {
        if (guard.alive()) {
            m_vcpuChange = false;
        }
        done(std::move(r));
    };
    m_qmp.execute("query-hotpluggable-cpus", nlohmann::json::object(),
                  [this, guard, count, finish](Result<nlohmann::json> answer) {
                      if (!guard.alive()) {
                          return;
                      }
                      if (!answer) {
                          finish(answer.takeError().prefix("listing the CPU slots"));
                          return;
                      }
                      auto slots = cpuSlots(answer.value());
                      auto steps = slots ? vcpuSteps(slots.value(), count)
                                         : Result<std::vector<VcpuStep>>(slots.takeError());
                      if (!steps) {
                          finish(steps.takeError());
                          return;
                      }
                      runVcpuSteps(std::move(steps.value()), 0, finish);
                  });
}

void Machine::runVcpuSteps(std::vector<VcpuStep> steps, size_t next, Done done) {
    if (next == steps.size()) {
        done(success());
        return;
    }
    auto guard = m_lifetime.guard();
    auto stepped = [this, guard, steps, next, done](Result<void> r) mutable {
        if (!guard.alive()) {
            return;
        }
        if (!r) {
            done(std::move(r));
            return;
        }
        uint32_t before = m_domain.def.vcpusCurrent;
        uint32_t online = steps[next].add ? before + 1 : before - 1;
        if (auto live = withVcpus(m_domain, online, false)) {
            commitLiveDefinition(std::move(live).value());
        } else {
            log::warning("cannot record the vCPU count: " + live.error().message());
        }
        // libvirt's DEVICE_REMOVED names a released vCPU by its alias too.
        if (!steps[next].add && m_listener.deviceRemoved) {
            m_listener.deviceRemoved(steps[next].id);
        }
        runVcpuSteps(std::move(steps), next + 1, std::move(done));
    };
    const VcpuStep& step = steps[next];
    if (step.add) {
        m_qmp.execute("device_add", step.device, [stepped](Result<nlohmann::json> r) mutable {
            stepped(r ? success() : Result<void>(r.takeError().prefix("adding a vCPU")));
        });
        return;
    }
    unplug(step.id, stepped);
}

void Machine::recountVcpus(const std::string& released) {
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-hotpluggable-cpus", nlohmann::json::object(),
                  [this, guard, released](Result<nlohmann::json> answer) {
                      if (!guard.alive() || !answer) {
                          return;
                      }
                      auto slots = cpuSlots(answer.value());
                      if (!slots) {
                          return;
                      }
                      uint32_t online = onlineCount(slots.value());
                      if (online != m_domain.def.vcpusCurrent) {
                          if (auto live = withVcpus(m_domain, online, false)) {
                              commitLiveDefinition(std::move(live).value());
                          }
                      }
                      // Told once the live definition has the new count: the registry
                      // reads it from there.
                      if (m_listener.deviceRemoved) {
                          m_listener.deviceRemoved(released);
                      }
                  });
}

} // namespace virtswarm::shim
