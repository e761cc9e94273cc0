// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <sys/types.h>

namespace virtswarm {

// How many polkit checks may wait at once, per caller and in all. Every check is a pending
// call on the daemon's bus connection, and the bus allows a connection only so many
// (dbus-daemon's max_replies_per_connection, 128 on the system bus): without these bounds one
// user's flood of denied calls fills that budget and the daemon's other calls fail. Over a
// bound the caller gets LimitsExceeded at once, and only that caller.
class AuthorizationBudget {
public:
    struct Limits {
        size_t perSender = 8; // one connection (or one libvirt client process)
        size_t perUid = 16;   // all connections of one user together
        size_t total = 64;    // well under the bus's 128, leaving room for other calls
    };

    AuthorizationBudget()
        : AuthorizationBudget(Limits{}) {}
    explicit AuthorizationBudget(Limits limits)
        : m_limits(limits) {}

    // Takes a slot for a check on behalf of (sender, uid), or says which bound is reached.
    Result<void> acquire(const std::string& sender, uid_t uid);
    // Gives back a slot taken by acquire with the same arguments.
    void release(const std::string& sender, uid_t uid);

    size_t pending() const { return m_total; }

private:
    Limits m_limits;
    std::map<std::string, size_t> m_bySender;
    std::map<uid_t, size_t> m_byUid;
    size_t m_total = 0;
};

} // namespace virtswarm
