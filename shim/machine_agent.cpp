// SPDX-License-Identifier: LGPL-2.1-or-later
// The QEMU guest agent: the shim's client on the org.qemu.guest_agent.0 channel, connected
// while the guest has the port open (QMP VSERPORT_CHANGE), and shown in the live XML.
#include "machine.hpp"
#include "virtswarm/log.hpp"

#include <random>

namespace virtswarm::shim {
namespace {

constexpr const char* kAgentChannel = "org.qemu.guest_agent.0";
// guest-sync proves a live agent reads the channel; it answers at once when it does.
constexpr auto kAgentSyncTimeout = std::chrono::seconds(5);
// guest-shutdown does not answer when it works: the guest goes down. Its pending entry
// just expires.
constexpr auto kAgentShutdownTimeout = std::chrono::seconds(30);

// One agent command whose reply `parse` reads; HypervisorGone without a connected agent.
template <typename T, typename Parse>
void askAgent(qmp::Client& agent, const std::string& command, nlohmann::json args, Parse parse,
              std::function<void(Result<T>)> done) {
    if (!agent.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU guest agent is not connected"));
        return;
    }
    agent.execute(
        command, std::move(args),
        [parse, done](Result<nlohmann::json> r) {
            if (!r) {
                done(r.takeError().prefix("the QEMU guest agent"));
                return;
            }
            done(parse(r.value()));
        },
        kAgentSyncTimeout);
}

} // namespace

qmp::Limits guestAgentLimits() {
    qmp::Limits limits;
    limits.greeting = false;
    return limits;
}

std::optional<std::string> Machine::agentSocket() const {
    const auto& channels = m_domain.def.tools.channels;
    for (size_t i = 0; i < channels.size(); ++i) {
        if (channels[i].type == "unix" && channels[i].targetName == kAgentChannel) {
            return channelSocketPath(m_files.dir, channels[i], i);
        }
    }
    return std::nullopt;
}

void Machine::onChannelChange(const std::string& alias, bool open) {
    auto live = withChannelState(m_domain, alias, open);
    if (!live) {
        return; // not a channel of ours (a console port)
    }
    commitLiveDefinition(std::move(live).value());
    const auto& channels = m_domain.def.tools.channels;
    bool isAgent = false;
    for (size_t i = 0; i < channels.size(); ++i) {
        isAgent = isAgent || (alias == "channel" + std::to_string(i) &&
                              channels[i].targetName == kAgentChannel);
    }
    auto socket = agentSocket();
    if (!isAgent || !socket) {
        return;
    }
    m_agent.close();
    if (open) {
        m_agent.connect(*socket, [](Result<void> r) {
            if (!r) {
                log::warning("guest agent: " + r.error().message());
            }
        });
    }
}

void Machine::interfaceAddresses(std::function<void(Result<std::vector<GuestInterface>>)> done) {
    askAgent<std::vector<GuestInterface>>(m_agent, "guest-network-get-interfaces",
                                          nlohmann::json::object(), parseGuestInterfaces,
                                          std::move(done));
}

void Machine::guestTime(std::function<void(Result<GuestTime>)> done) {
    askAgent<GuestTime>(m_agent, "guest-get-time", nlohmann::json::object(), parseGuestTime,
                        std::move(done));
}

void Machine::setGuestTime(std::optional<GuestTime> time, Done done) {
    nlohmann::json args = nlohmann::json::object();
    if (time) {
        auto ns = guestTimeArgument(*time);
        if (!ns) {
            done(ns.takeError());
            return;
        }
        args["time"] = ns.value();
    }
    askAgent<void>(
        m_agent, "guest-set-time", std::move(args), [](const nlohmann::json&) { return success(); },
        std::move(done));
}

void Machine::guestHostname(std::function<void(Result<std::string>)> done) {
    askAgent<std::string>(m_agent, "guest-get-host-name", nlohmann::json::object(),
                          parseGuestHostname, std::move(done));
}

void Machine::reconnectAgent() {
    const auto& channels = m_domain.def.tools.channels;
    for (size_t i = 0; i < channels.size(); ++i) {
        if (channels[i].type != "unix" || channels[i].targetName != kAgentChannel) {
            continue;
        }
        // QEMU knows whether the guest side is open; no event comes for what happened
        // while no shim was listening.
        std::string label = "charchannel" + std::to_string(i);
        m_qmp.execute("query-chardev", nlohmann::json::object(),
                      [this, guard = m_lifetime.guard(), label, i](Result<nlohmann::json> r) {
                          if (!guard.alive() || !r || !r.value().is_array()) {
                              return;
                          }
                          for (const auto& chardev : r.value()) {
                              if (chardev.is_object() && chardev.value("label", "") == label) {
                                  onChannelChange("channel" + std::to_string(i),
                                                  chardev.value("frontend-open", false));
                              }
                          }
                      });
        return;
    }
}

void Machine::agentPowerCommand(const std::string& mode, Done done) {
    if (!m_agent.connected()) {
        done(Error(Code::HypervisorGone, "the QEMU guest agent is not connected"));
        return;
    }
    // A token of our own: a reply left in the channel by an earlier client cannot match.
    static std::mt19937 random{std::random_device{}()};
    uint32_t token = random() & 0x7fffffff;
    auto guard = m_lifetime.guard();
    m_agent.execute(
        "guest-sync", {{"id", token}},
        [this, guard, token, mode, done](Result<nlohmann::json> r) {
            if (!guard.alive()) {
                return;
            }
            if (!r || r.value() != token) {
                done(r ? Error(Code::HypervisorGone, "the QEMU guest agent answered out of sync")
                       : r.takeError().prefix("the QEMU guest agent"));
                return;
            }
            m_agent.execute(
                "guest-shutdown", {{"mode", mode}}, [](Result<nlohmann::json>) {},
                kAgentShutdownTimeout);
            done(success());
        },
        kAgentSyncTimeout);
}

} // namespace virtswarm::shim
