// SPDX-License-Identifier: LGPL-2.1-or-later
// What a running guest is told besides its lifecycle: the balloon's target (virsh setmem),
// keys (virsh send-key), a non-maskable interrupt (virsh inject-nmi), and the live
// definition's title, description and metadata (virsh desc/metadata --live).
#include "machine.hpp"
#include "virtswarm/domain_metadata.hpp"
#include "virtswarm/domain_tuning.hpp"
#include "virtswarm/keycodes.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>

namespace virtswarm::shim {

void Machine::setBalloon(uint64_t kib, Done done) {
    if (m_domain.def.memballoon.model != "virtio") {
        // libvirt's refusal, word for word (OPERATION_INVALID).
        done(Error(Code::InvalidState, "Unable to change memory of active domain without the "
                                       "balloon device and guest OS balloon driver"));
        return;
    }
    if (kib == 0 || kib > m_domain.def.memoryKiB) {
        done(Error(Code::InvalidArgs, "cannot set memory higher than max memory"));
        return;
    }
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    // The target only: the guest's balloon driver moves toward it, and the live XML follows
    // what QEMU reports it reached (BALLOON_CHANGE), as libvirt's does.
    m_qmp.execute("balloon", {{"value", kib * 1024}}, [done](Result<nlohmann::json> r) {
        done(r ? success() : Result<void>(r.takeError().prefix("setting the balloon")));
    });
}

void Machine::setBootBalloon() {
    const DomainDef& def = m_domain.def;
    if (def.memballoon.model != "virtio" || def.currentMemoryKiB >= def.memoryKiB) {
        return;
    }
    setBalloon(def.currentMemoryKiB, [](Result<void> r) {
        if (!r) {
            log::warning("cannot set the balloon to the current memory: " + r.error().message());
        }
    });
}

void Machine::onBalloonChange(const nlohmann::json& data) {
    auto actual = data.find("actual");
    if (actual == data.end() || !actual->is_number_unsigned()) {
        return;
    }
    uint64_t kib = actual->get<uint64_t>() / 1024;
    if (kib == 0 || kib == m_domain.def.currentMemoryKiB) {
        return;
    }
    auto live = withMemory(m_domain, std::min(kib, m_domain.def.memoryKiB), false);
    if (!live) {
        log::warning("cannot record the balloon's size: " + live.error().message());
        return;
    }
    commitLiveDefinition(std::move(live).value());
}

void Machine::sendKey(const std::vector<uint32_t>& qnums, uint32_t holdTimeMs, Done done) {
    if (qnums.empty() || qnums.size() > kMaxSendKeys) {
        done(Error(Code::InvalidArgs, "between 1 and 16 keys can be sent at once"));
        return;
    }
    if (!m_qmp.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU monitor is not connected"));
        return;
    }
    nlohmann::json keys = nlohmann::json::array();
    for (uint32_t qnum : qnums) {
        keys.push_back({{"type", "number"}, {"data", qnum}});
    }
    nlohmann::json args{{"keys", keys}};
    if (holdTimeMs > 0) {
        args["hold-time"] = holdTimeMs;
    }
    m_qmp.execute("send-key", args, [done](Result<nlohmann::json> r) {
        done(r ? success() : Result<void>(r.takeError().prefix("sending the keys")));
    });
}

void Machine::injectNmi(Done done) {
    simpleCommand("inject-nmi", std::move(done));
}

Result<void> Machine::setLiveMetadata(const std::string& type, const std::string& value,
                                      const std::string& key, const std::string& uri) {
    auto kind = parseMetadataKind(type);
    if (!kind) {
        return kind.takeError();
    }
    auto live = withMetadata(m_domain, kind.value(), value, key, uri);
    if (!live) {
        return live.takeError();
    }
    commitLiveDefinition(std::move(live).value());
    return success();
}

} // namespace virtswarm::shim
