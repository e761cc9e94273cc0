// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guest_stopper.hpp"

#include "virtswarm/log.hpp"

#include <algorithm>
#include <deque>
#include <thread>

namespace virtswarm::guests {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
// A Destroy or a managed save of a large guest may take a while; a Shutdown request
// only sends the ACPI event.
constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr auto kSaveTimeout = std::chrono::seconds(600);

} // namespace

GuestStopper::GuestStopper(SwarmClient& client, const GuestsConfig& config)
    : m_client(client)
    , m_config(config) {}

Result<std::vector<StoppedGuest>> GuestStopper::stopAll() {
    auto paths = m_client.listDomains(true);
    if (!paths) {
        return paths.takeError();
    }
    std::vector<DomainInfo> running;
    for (const auto& path : paths.value()) {
        auto info = m_client.domain(path);
        if (info && info.value().state != "shutoff") {
            running.push_back(std::move(info).value());
        }
    }
    log::info(std::to_string(running.size()) +
              " running guest(s); on shutdown: " + actionName(m_config.onShutdown));
    std::vector<StoppedGuest> out;
    if (m_config.onShutdown == ShutdownAction::Shutdown) {
        shutDownAll(std::move(running), out);
        return out;
    }
    for (const auto& guest : running) {
        out.push_back(apply(m_config.onShutdown, guest, ""));
        report(out.back());
    }
    return out;
}

void GuestStopper::shutDownAll(std::vector<DomainInfo> running, std::vector<StoppedGuest>& out) {
    const size_t limit = std::max(1U, m_config.parallelShutdown);
    std::deque<DomainInfo> pending(running.begin(), running.end());
    std::vector<InFlight> inFlight;
    while (!pending.empty() || !inFlight.empty()) {
        while (inFlight.size() < limit && !pending.empty()) {
            DomainInfo guest = std::move(pending.front());
            pending.pop_front();
            if (auto r = m_client.callDomain(guest.path, "Shutdown", {}, kRequestTimeout); !r) {
                out.push_back(apply(m_config.onShutdownTimeout, guest,
                                    "its shutdown request failed (" + r.error().message() + ")"));
                report(out.back());
                continue;
            }
            auto deadline = m_config.shutdownTimeout.count() == 0
                                ? std::chrono::steady_clock::time_point::max()
                                : std::chrono::steady_clock::now() + m_config.shutdownTimeout;
            inFlight.push_back({StoppedGuest{std::move(guest), "", false}, deadline});
        }
        auto now = std::chrono::steady_clock::now();
        for (auto it = inFlight.begin(); it != inFlight.end();) {
            if (isDown(it->stopped.guest)) {
                it->stopped.outcome = "shut down";
                it->stopped.down = true;
            } else if (now >= it->deadline) {
                it->stopped = apply(m_config.onShutdownTimeout, it->stopped.guest,
                                    "it did not shut down within " +
                                        std::to_string(m_config.shutdownTimeout.count()) + " s");
            } else {
                ++it;
                continue;
            }
            out.push_back(std::move(it->stopped));
            report(out.back());
            it = inFlight.erase(it);
        }
        if (!inFlight.empty()) {
            std::this_thread::sleep_for(kPollInterval);
        }
    }
}

bool GuestStopper::isDown(const DomainInfo& guest) {
    auto info = m_client.domain(guest.path);
    if (!info) {
        // A transient guest's object goes away as it shuts off.
        return info.error().code() == Code::NoSuchDomain;
    }
    return info.value().state == "shutoff";
}

StoppedGuest GuestStopper::apply(ShutdownAction action, const DomainInfo& guest,
                                 const std::string& why) {
    std::string after = why.empty() ? "" : " after " + why;
    StoppedGuest stopped{guest, "", false};
    Result<void> r = success();
    if (action == ShutdownAction::Suspend && !guest.persistent) {
        // A transient guest has no definition to restore its saved state into.
        action = ShutdownAction::Destroy;
        after += " (transient guests cannot be saved)";
    }
    if (action == ShutdownAction::Suspend) {
        Options options{{"bypass-cache", sdbus::Variant(m_config.bypassCache)}};
        r = m_client.callDomain(guest.path, "ManagedSave", options, kSaveTimeout);
        stopped.outcome = "saved" + after;
    } else {
        r = m_client.callDomain(guest.path, "Destroy", {}, kRequestTimeout);
        stopped.outcome = "destroyed" + after;
    }
    if (!r) {
        stopped.outcome = std::string(action == ShutdownAction::Suspend ? "save" : "destroy") +
                          " failed" + after + ": " + r.error().message();
        return stopped;
    }
    stopped.down = true;
    return stopped;
}

void GuestStopper::report(const StoppedGuest& stopped) {
    std::string line = "guest '" + stopped.guest.name + "': " + stopped.outcome;
    if (stopped.down) {
        log::info(line);
    } else {
        log::error(line);
    }
}

} // namespace virtswarm::guests
