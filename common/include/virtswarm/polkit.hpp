// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/authorization_budget.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sdbus {
class IConnection;
class IProxy;
class Message;
} // namespace sdbus

namespace virtswarm {

using PolkitDetails = std::map<std::string, std::string>;

// Asynchronous polkit checks (the rules of systemd's bus_verify_polkit_async):
// - decided before any state change: callers act only inside the callback;
// - privileged callers (uid 0; in session mode the bus owner's own uid) pass without asking;
// - a polkit challenge becomes InteractiveAuthorizationRequired, a "no" AccessDenied;
// - polkitd absent, slow or failing counts as denied, never as allowed;
// - pending checks are bounded per caller and in all (AuthorizationBudget): a caller over
//   its bound gets LimitsExceeded, and one caller's flood never fails another's check.
class Authority {
public:
    using Verdict = std::function<void(Result<void>)>;

    Authority(sdbus::IConnection& connection, BusMode mode,
              std::chrono::milliseconds timeout = std::chrono::seconds(30),
              AuthorizationBudget::Limits limits = {});
    ~Authority();
    Authority(const Authority&) = delete;
    Authority& operator=(const Authority&) = delete;

    // Subject "system-bus-name": the unique name of the caller of a D-Bus method.
    void checkBusName(const std::string& sender, const std::string& actionId,
                      const PolkitDetails& details, bool allowInteraction, Verdict verdict);
    // The same, also telling the caller's uid (e.g. to make it the owner of a device).
    void checkBusNameWithUid(const std::string& sender, const std::string& actionId,
                             const PolkitDetails& details, bool allowInteraction,
                             std::function<void(Result<uid_t>)> verdict);
    // Every action in turn (all must be allowed; the first refusal is the verdict), as
    // for a call that needs several rights, e.g. CreateXML: save and start.
    void checkBusNameForAll(const std::string& sender, std::vector<std::string> actionIds,
                            const PolkitDetails& details, bool allowInteraction,
                            std::function<void(Result<uid_t>)> verdict);

    // For a root caller acting for another uid (a system shim for its domain's definer):
    // subject "unix-process" with the caller's pid and `onBehalfOf` as its uid, so rules
    // see the definer. Only root may name a uid other than its own (else InvalidArgs).
    // The verdict carries `onBehalfOf`.
    void checkBusNameOnBehalfOf(const std::string& sender, uid_t onBehalfOf,
                                const std::string& actionId, const PolkitDetails& details,
                                std::function<void(Result<uid_t>)> verdict);

    // Subject "unix-process" (pid + start time + uid), for callers that are not on the
    // bus, such as libvirt RPC clients of the bridge.
    void checkProcess(pid_t pid, uid_t uid, const std::string& actionId,
                      const PolkitDetails& details, Verdict verdict);

    using UidVerdict = std::function<void(Result<uid_t>)>;
    // The uid behind a unique bus name: cached, and one bus-driver call per sender at most,
    // however many of its calls wait for the answer. For work done with the caller's own
    // rights before polkit can be asked (a save file whose header names the domain).
    void lookUpUid(const std::string& sender, UidVerdict then);

private:
    struct Subject;
    // `caller` and `uid` are what the budget counts the check against.
    void askPolkit(const Subject& subject, const std::string& caller, uid_t uid,
                   const std::string& actionId, const PolkitDetails& details, bool allowInteraction,
                   Verdict verdict);
    bool privileged(uid_t uid) const;
    // A unique name left the bus: its cached uid goes. Only the bus driver's word counts.
    void onNameLost(sdbus::Message& message);

    sdbus::IConnection& m_connection;
    BusMode m_mode;
    std::chrono::milliseconds m_timeout;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::unique_ptr<sdbus::IProxy> m_polkit;
    std::map<std::string, uid_t> m_uidBySender; // unique bus name -> uid
    std::shared_ptr<void> m_nameLostMatch; // the NameOwnerChanged subscription (an sdbus::Slot)
    std::map<std::string, std::vector<UidVerdict>> m_uidLookups; // in flight, by sender
    AuthorizationBudget m_budget;
};

// Reads the start time of a process (field 22 of /proc/<pid>/stat), which polkit needs to
// tell a process from a later one that reuses its pid.
Result<uint64_t> processStartTime(pid_t pid);

} // namespace virtswarm
