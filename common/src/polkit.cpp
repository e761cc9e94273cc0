// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/polkit.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/bus_driver.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <unistd.h>

namespace virtswarm {
namespace {

constexpr const char* kPolkitName = "org.freedesktop.PolicyKit1";
constexpr const char* kPolkitPath = "/org/freedesktop/PolicyKit1/Authority";
constexpr const char* kPolkitInterface = "org.freedesktop.PolicyKit1.Authority";
constexpr uint32_t kAllowUserInteraction = 1;
// Distinct senders whose uid is being asked of the bus driver at once. Together with the
// budget's total this stays under the bus's 128 pending replies per connection.
constexpr size_t kMaxUidLookups = 48;

using PolkitSubject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
using PolkitResult = sdbus::Struct<bool, bool, std::map<std::string, std::string>>;

} // namespace

struct Authority::Subject {
    PolkitSubject value;
    std::string description;
};

Authority::Authority(sdbus::IConnection& connection, BusMode mode,
                     std::chrono::milliseconds timeout, AuthorizationBudget::Limits limits)
    : m_connection(connection)
    , m_mode(mode)
    , m_timeout(timeout)
    , m_busDriver(sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus"))
    , m_polkit(sdbus::createProxy(connection, kPolkitName, kPolkitPath))
    , m_budget(limits) {
    // The uid cache is keyed by unique name; a name that left the bus never comes back,
    // so its entry is dropped then (arg2='': the name has no owner any more).
    try {
        m_nameLostMatch = m_connection.addMatch(
            std::string("type='signal',sender='") + kBusDriverName + "',interface='" +
                kBusDriverName + "',member='NameOwnerChanged',arg2=''",
            [this](sdbus::Message& message) { onNameLost(message); });
    } catch (const sdbus::Error& e) {
        // The cache stays bounded (lookUpUid clears it when full); only slower.
        log::warning("cannot follow callers leaving the bus: " + e.getMessage());
    }
}

Authority::~Authority() = default;

bool Authority::privileged(uid_t uid) const {
    return uid == 0 || (m_mode == BusMode::Session && uid == getuid());
}

void Authority::checkBusName(const std::string& sender, const std::string& actionId,
                             const PolkitDetails& details, bool allowInteraction, Verdict verdict) {
    checkBusNameWithUid(sender, actionId, details, allowInteraction,
                        [verdict = std::move(verdict)](Result<uid_t> r) {
                            verdict(r ? success() : Result<void>(r.takeError()));
                        });
}

void Authority::checkBusNameWithUid(const std::string& sender, const std::string& actionId,
                                    const PolkitDetails& details, bool allowInteraction,
                                    std::function<void(Result<uid_t>)> verdict) {
    lookUpUid(sender, [this, sender, actionId, details, allowInteraction,
                       verdict = std::move(verdict)](Result<uid_t> uid) {
        if (!uid) {
            verdict(uid.takeError());
            return;
        }
        uid_t caller = uid.value();
        if (privileged(caller)) {
            verdict(caller);
            return;
        }
        Subject subject{PolkitSubject{"system-bus-name", {{"name", sdbus::Variant(sender)}}},
                        "bus name " + sender + " (uid " + std::to_string(caller) + ")"};
        askPolkit(subject, sender, caller, actionId, details, allowInteraction,
                  [verdict, caller](Result<void> r) {
                      verdict(r ? Result<uid_t>(caller) : Result<uid_t>(r.takeError()));
                  });
    });
}

void Authority::onNameLost(sdbus::Message& message) {
    auto change = nameOwnerChangeFromBusDriver(message); // a forged one must not evict
    if (change && change->newOwner.empty() && change->name.size() > 1 && change->name[0] == ':') {
        m_uidBySender.erase(change->name);
    }
}

void Authority::lookUpUid(const std::string& sender, UidVerdict then) {
    // A unique bus name is never reused while the bus runs, so its uid can be cached
    // until the name leaves the bus (onNameLost).
    if (auto it = m_uidBySender.find(sender); it != m_uidBySender.end()) {
        then(it->second);
        return;
    }
    if (auto it = m_uidLookups.find(sender); it != m_uidLookups.end()) {
        it->second.push_back(std::move(then));
        return;
    }
    if (m_uidLookups.size() >= kMaxUidLookups) {
        then(Error(Code::LimitsExceeded, "too many callers being identified; try again later"));
        return;
    }
    m_uidLookups[sender].push_back(std::move(then));
    auto answer = [this, sender](Result<uid_t> uid) {
        auto node = m_uidLookups.extract(sender);
        if (node.empty()) {
            return;
        }
        for (auto& waiter : node.mapped()) {
            waiter(uid);
        }
    };
    // The caller's uid comes from the bus driver, asynchronously: sdbus-c++'s
    // getCredsUid() would block the loop on a round trip.
    try {
        m_busDriver->callMethodAsync("GetConnectionUnixUser")
            .onInterface("org.freedesktop.DBus")
            .withTimeout(m_timeout)
            .withArguments(sender)
            .uponReplyInvoke([this, sender, answer](const sdbus::Error* error, uint32_t uid) {
                if (error != nullptr) {
                    answer(Error(Code::AccessDenied,
                                 "cannot identify the caller: " + error->getMessage()));
                    return;
                }
                // Bounded: a long-lived daemon sees many short-lived callers.
                constexpr size_t kMaxCachedSenders = 4096;
                if (m_uidBySender.size() >= kMaxCachedSenders) {
                    m_uidBySender.clear();
                }
                m_uidBySender.emplace(sender, static_cast<uid_t>(uid));
                answer(static_cast<uid_t>(uid));
            });
    } catch (const sdbus::Error& e) {
        // Not even sent: the waiters must not wait for ever.
        answer(Error(Code::AccessDenied, "cannot identify the caller: " + e.getMessage()));
    }
}

void Authority::checkBusNameForAll(const std::string& sender, std::vector<std::string> actionIds,
                                   const PolkitDetails& details, bool allowInteraction,
                                   std::function<void(Result<uid_t>)> verdict) {
    if (actionIds.empty()) {
        verdict(Error(Code::Internal, "no action to authorize"));
        return;
    }
    std::string first = actionIds.front();
    actionIds.erase(actionIds.begin());
    checkBusNameWithUid(sender, first, details, allowInteraction,
                        [this, sender, rest = std::move(actionIds), details, allowInteraction,
                         verdict = std::move(verdict)](Result<uid_t> r) mutable {
                            if (!r || rest.empty()) {
                                verdict(std::move(r));
                                return;
                            }
                            checkBusNameForAll(sender, std::move(rest), details, allowInteraction,
                                               std::move(verdict));
                        });
}

void Authority::checkBusNameOnBehalfOf(const std::string& sender, uid_t onBehalfOf,
                                       const std::string& actionId, const PolkitDetails& details,
                                       std::function<void(Result<uid_t>)> verdict) {
    lookUpUid(sender, [this, sender, onBehalfOf, actionId, details,
                       verdict = std::move(verdict)](Result<uid_t> uid) {
        if (!uid) {
            verdict(uid.takeError());
            return;
        }
        if (uid.value() == onBehalfOf) {
            checkBusNameWithUid(sender, actionId, details, false, verdict);
            return;
        }
        if (uid.value() != 0) {
            verdict(Error(Code::InvalidArgs, "only root may act for another uid"));
            return;
        }
        if (privileged(onBehalfOf)) {
            verdict(onBehalfOf);
            return;
        }
        // The pid, like the uid, from the bus driver and asynchronously.
        try {
            m_busDriver->callMethodAsync("GetConnectionUnixProcessID")
                .onInterface("org.freedesktop.DBus")
                .withTimeout(m_timeout)
                .withArguments(sender)
                .uponReplyInvoke([this, onBehalfOf, actionId, details,
                                  verdict](const sdbus::Error* error, uint32_t pid) {
                    if (error != nullptr) {
                        verdict(Error(Code::AccessDenied,
                                      "cannot identify the caller: " + error->getMessage()));
                        return;
                    }
                    checkProcess(static_cast<pid_t>(pid), onBehalfOf, actionId, details,
                                 [verdict, onBehalfOf](Result<void> r) {
                                     verdict(r ? Result<uid_t>(onBehalfOf)
                                               : Result<uid_t>(r.takeError()));
                                 });
                });
        } catch (const sdbus::Error& e) {
            verdict(Error(Code::AccessDenied, "cannot identify the caller: " + e.getMessage()));
        }
    });
}

void Authority::checkProcess(pid_t pid, uid_t uid, const std::string& actionId,
                             const PolkitDetails& details, Verdict verdict) {
    if (privileged(uid)) {
        verdict(success());
        return;
    }
    auto start = processStartTime(pid);
    if (!start) {
        verdict(
            Error(Code::AccessDenied, "cannot identify the caller: " + start.error().message()));
        return;
    }
    Subject subject{PolkitSubject{"unix-process",
                                  {{"pid", sdbus::Variant(static_cast<uint32_t>(pid))},
                                   {"start-time", sdbus::Variant(start.value())},
                                   {"uid", sdbus::Variant(static_cast<int32_t>(uid))}}},
                    "process " + std::to_string(pid) + " (uid " + std::to_string(uid) + ")"};
    askPolkit(subject, "process " + std::to_string(pid), uid, actionId, details, false,
              std::move(verdict));
}

void Authority::askPolkit(const Subject& subject, const std::string& caller, uid_t uid,
                          const std::string& actionId, const PolkitDetails& details,
                          bool allowInteraction, Verdict verdict) {
    if (auto slot = m_budget.acquire(caller, uid); !slot) {
        log::debug("refusing " + actionId + " for " + subject.description + ": " +
                   slot.error().message());
        verdict(slot.takeError());
        return;
    }
    // The slot is given back when polkit answers or the call fails, exactly once.
    verdict = [this, caller, uid, verdict = std::move(verdict)](Result<void> r) {
        m_budget.release(caller, uid);
        verdict(std::move(r));
    };
    uint32_t flags = allowInteraction ? kAllowUserInteraction : 0;
    std::string who = subject.description;
    m_polkit->callMethodAsync("CheckAuthorization")
        .onInterface(kPolkitInterface)
        .withTimeout(m_timeout)
        .withArguments(subject.value, actionId, details, flags, std::string())
        .uponReplyInvoke([actionId, who, verdict = std::move(verdict)](const sdbus::Error* error,
                                                                       PolkitResult result) {
            if (error != nullptr) {
                log::warning("polkit check of " + actionId + " for " + who +
                             " failed, denying: " + error->getName() + ": " + error->getMessage());
                verdict(
                    Error(Code::AccessDenied, "authorization for " + actionId + " is unavailable"));
                return;
            }
            bool authorized = result.get<0>();
            bool challenge = result.get<1>();
            if (authorized) {
                verdict(success());
            } else if (challenge) {
                verdict(Error(Code::InteractiveAuthorizationRequired,
                              "interactive authentication is required for " + actionId));
            } else {
                verdict(Error(Code::AccessDenied, "not authorized for " + actionId));
            }
        });
}

Result<uint64_t> processStartTime(pid_t pid) {
    auto stat = readFile("/proc/" + std::to_string(pid) + "/stat", 65536);
    if (!stat) {
        return stat.takeError();
    }
    // The command name (field 2) may contain spaces and parentheses: skip to the last ')'.
    const std::string& text = stat.value();
    auto close = text.rfind(')');
    if (close == std::string::npos) {
        return Error(Code::Internal, "unparsable /proc/<pid>/stat");
    }
    size_t pos = close + 2; // field 3 starts here
    for (int field = 3; field < 22; ++field) {
        pos = text.find(' ', pos);
        if (pos == std::string::npos) {
            return Error(Code::Internal, "short /proc/<pid>/stat");
        }
        ++pos;
    }
    return std::stoull(text.substr(pos, text.find(' ', pos) - pos));
}

} // namespace virtswarm
