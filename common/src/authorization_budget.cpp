// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/authorization_budget.hpp"

namespace virtswarm {
namespace {

template <typename Key> void decrement(std::map<Key, size_t>& counts, const Key& key) {
    auto it = counts.find(key);
    if (it != counts.end() && --it->second == 0) {
        counts.erase(it);
    }
}

} // namespace

Result<void> AuthorizationBudget::acquire(const std::string& sender, uid_t uid) {
    auto bySender = m_bySender.find(sender);
    if (bySender != m_bySender.end() && bySender->second >= m_limits.perSender) {
        return Error(Code::LimitsExceeded, "too many authorizations pending for " + sender +
                                               " (at most " + std::to_string(m_limits.perSender) +
                                               ")");
    }
    auto byUid = m_byUid.find(uid);
    if (byUid != m_byUid.end() && byUid->second >= m_limits.perUid) {
        return Error(Code::LimitsExceeded, "too many authorizations pending for uid " +
                                               std::to_string(uid) + " (at most " +
                                               std::to_string(m_limits.perUid) + ")");
    }
    if (m_total >= m_limits.total) {
        return Error(Code::LimitsExceeded, "too many authorizations pending; try again later");
    }
    ++m_bySender[sender];
    ++m_byUid[uid];
    ++m_total;
    return success();
}

void AuthorizationBudget::release(const std::string& sender, uid_t uid) {
    decrement(m_bySender, sender);
    decrement(m_byUid, uid);
    if (m_total > 0) {
        --m_total;
    }
}

} // namespace virtswarm
