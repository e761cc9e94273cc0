// SPDX-License-Identifier: LGPL-2.1-or-later
// The QEMU guest agent: the shim's client on the org.qemu.guest_agent.0 channel, connected
// while the guest has the port open (QMP VSERPORT_CHANGE), and shown in the live XML.
#include "machine.hpp"
#include "virtswarm/log.hpp"

#include <random>

namespace virtswarm::shim {
namespace {

// guest-sync proves a live agent reads the channel; it answers at once when it does.
constexpr auto kAgentSyncTimeout = std::chrono::seconds(5);
// guest-shutdown does not answer when it works: the guest goes down. Its pending entry
// just expires.
constexpr auto kAgentShutdownTimeout = std::chrono::seconds(30);
// guest-fsfreeze-freeze syncs every filesystem first, which a busy guest takes a while for.
constexpr auto kAgentFreezeTimeout = std::chrono::seconds(60);

// One agent command whose reply `parse` reads; HypervisorGone without a connected agent.
template <typename T, typename Parse>
void askAgent(qmp::Client& agent, const std::string& command, nlohmann::json args, Parse parse,
              std::function<void(Result<T>)> done,
              std::chrono::milliseconds timeout = kAgentSyncTimeout) {
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
        timeout);
}

} // namespace

qmp::Limits guestAgentLimits() {
    qmp::Limits limits;
    limits.greeting = false;
    return limits;
}

std::optional<std::string> Machine::agentSocket() const {
    auto index = m_domain.def.tools.guestAgentChannel();
    if (!index) {
        return std::nullopt;
    }
    return channelSocketPath(m_files.dir, m_domain.def.tools.channels[*index], *index);
}

void Machine::onChannelChange(const std::string& alias, bool open) {
    auto live = withChannelState(m_domain, alias, open);
    if (!live) {
        return; // not a channel of ours (a console port)
    }
    commitLiveDefinition(std::move(live).value());
    auto index = m_domain.def.tools.guestAgentChannel();
    auto socket = agentSocket();
    if (!index || alias != "channel" + std::to_string(*index) || !socket) {
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

Result<void> Machine::canFreeze() const {
    if (!agentSocket()) {
        return Error(Code::ArgumentUnsupported, "QEMU guest agent is not configured");
    }
    if (!m_agent.connected()) {
        return Error(Code::HypervisorGone, "the QEMU guest agent is not connected");
    }
    return {};
}

void Machine::whileFrozen(std::function<void(Done)> act, Done done) {
    if (auto ok = canFreeze(); !ok) {
        done(ok.takeError());
        return;
    }
    // Whatever froze is thawed again, whether the freeze, or what ran frozen, worked.
    auto thawThen = [this](Result<void> outcome, Done then) {
        m_agent.execute(
            "guest-fsfreeze-thaw", nlohmann::json::object(),
            [outcome = std::move(outcome), then](Result<nlohmann::json> thawed) mutable {
                if (!thawed) {
                    // Too late to undo what ran; the guest's filesystems may stay frozen
                    // until someone thaws them (virsh domfsthaw).
                    log::error("guest agent: cannot thaw the guest's filesystems: " +
                               thawed.error().message());
                }
                then(std::move(outcome));
            },
            kAgentFreezeTimeout);
    };
    askAgent<int64_t>(
        m_agent, "guest-fsfreeze-freeze", nlohmann::json::object(),
        [](const nlohmann::json& count) -> Result<int64_t> {
            if (!count.is_number_integer()) {
                return Error(Code::OperationFailed,
                             "the QEMU guest agent's freeze answer is not a count");
            }
            return count.get<int64_t>();
        },
        [this, guard = m_lifetime.guard(), act, done, thawThen](Result<int64_t> frozen) {
            if (!guard.alive()) {
                return;
            }
            if (!frozen) {
                // A freeze that failed half way leaves some filesystems frozen.
                thawThen(frozen.takeError().prefix("cannot freeze the guest's filesystems"), done);
                return;
            }
            log::info("guest agent: " + std::to_string(frozen.value()) + " filesystem(s) frozen");
            act([this, guard, done, thawThen](Result<void> r) {
                if (guard.alive()) {
                    thawThen(std::move(r), done);
                }
            });
        },
        kAgentFreezeTimeout);
}

void Machine::reconnectAgent() {
    auto index = m_domain.def.tools.guestAgentChannel();
    if (!index) {
        return;
    }
    // QEMU knows whether the guest side is open; no event comes for what happened while no
    // shim was listening.
    std::string label = "charchannel" + std::to_string(*index);
    m_qmp.execute("query-chardev", nlohmann::json::object(),
                  [this, guard = m_lifetime.guard(), label, i = *index](Result<nlohmann::json> r) {
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
