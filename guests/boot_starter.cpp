// SPDX-License-Identifier: LGPL-2.1-or-later
#include "boot_starter.hpp"

#include "guest_record.hpp"
#include "virtswarm/log.hpp"

#include <thread>

namespace virtswarm::guests {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
// A Start includes restoring a managed save, which reads the whole guest memory back.
constexpr auto kStartTimeout = std::chrono::seconds(600);

} // namespace

BootStarter::BootStarter(SwarmClient& client, const GuestsConfig& config, bool withNetworks)
    : m_client(client)
    , m_config(config)
    , m_withNetworks(withNetworks) {}

std::chrono::steady_clock::time_point BootStarter::deadline() const {
    return std::chrono::steady_clock::now() + m_config.bootTimeout;
}

bool BootStarter::run(const std::string& recordPath) {
    bool ok = true;
    if (m_withNetworks) {
        ok = bringUpNetworks();
    }
    ok = awaitAutostartDomains() && ok;
    ok = restoreStoppedGuests(recordPath) && ok;
    return ok;
}

// Listing the networks activates networkd, which starts its autostart networks; wait
// for each so that no domain is started on a network that is not there yet.
bool BootStarter::bringUpNetworks() {
    auto networks = m_client.networks();
    if (!networks) {
        log::error(networks.error().message());
        return false;
    }
    bool ok = true;
    auto until = deadline();
    for (const auto& n : networks.value()) {
        if (!n.autostart) {
            continue;
        }
        bool active = n.active;
        while (!active && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(kPollInterval);
            auto now = m_client.network(n.path);
            active = now && now.value().active;
        }
        if (active) {
            log::info("network '" + n.name + "': up (autostart)");
        } else {
            log::error("network '" + n.name + "': not up within " +
                       std::to_string(m_config.bootTimeout.count()) +
                       " s (virtswarm-networkd's log says why)");
            ok = false;
        }
    }
    return ok;
}

// Listing the domains activates the registry, which starts its autostart domains.
bool BootStarter::awaitAutostartDomains() {
    auto paths = m_client.listDomains(false);
    if (!paths) {
        log::error(paths.error().message());
        return false;
    }
    bool ok = true;
    auto until = deadline();
    for (const auto& path : paths.value()) {
        auto info = m_client.domain(path);
        if (!info || !info.value().autostart) {
            continue;
        }
        while (info && info.value().state != "running" &&
               std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(kPollInterval);
            info = m_client.domain(path);
        }
        if (!info) {
            log::error("domain " + path + ": " + info.error().message());
            ok = false;
        } else if (info.value().state == "running") {
            log::info("domain '" + info.value().name + "': running (autostart)");
        } else {
            log::error("domain '" + info.value().name + "': not running within " +
                       std::to_string(m_config.bootTimeout.count()) + " s (state " +
                       info.value().state + "; virtswarm-hypervisord's log says why)");
            ok = false;
        }
    }
    return ok;
}

bool BootStarter::restoreStoppedGuests(const std::string& recordPath) {
    auto uuids = readGuestRecord(recordPath);
    if (!uuids) {
        log::error(uuids.error().message());
        return false;
    }
    if (uuids.value().empty()) {
        return true;
    }
    if (m_config.onBoot == BootAction::Ignore) {
        log::info("ON_BOOT=ignore: leaving the " + std::to_string(uuids.value().size()) +
                  " guest(s) stopped at shutdown as they are");
        return removeGuestRecord(recordPath).ok();
    }
    bool ok = true;
    bool first = true;
    for (const auto& uuid : uuids.value()) {
        auto path = m_client.lookupDomainByUuid(uuid);
        auto info = path ? m_client.domain(path.value()) : Result<DomainInfo>(path.takeError());
        if (!info) {
            log::warning("guest " + uuid + ": " + info.error().message() + "; not restarted");
            continue;
        }
        const DomainInfo& guest = info.value();
        if (guest.state != "shutoff") {
            log::info("guest '" + guest.name + "': already " + guest.state);
            continue;
        }
        if (!first && m_config.startDelay.count() > 0) {
            std::this_thread::sleep_for(m_config.startDelay);
        }
        first = false;
        if (auto r = m_client.callDomain(guest.path, "Start", {}, kStartTimeout); !r) {
            log::error("guest '" + guest.name + "': start failed: " + r.error().message());
            ok = false;
            continue;
        }
        log::info("guest '" + guest.name + "': started again (running at the last shutdown)");
    }
    if (auto r = removeGuestRecord(recordPath); !r) {
        log::error(r.error().message());
        return false;
    }
    return ok;
}

} // namespace virtswarm::guests
