// SPDX-License-Identifier: LGPL-2.1-or-later
#include "input_budget.hpp"

#include <algorithm>

namespace virtswarm::bridge {

bool InputBudget::claim(Owner owner, size_t bytes) {
    if (exempt(owner) || bytes == 0) {
        return true;
    }
    size_t& mine = m_byOwner[owner];
    if (bytes > m_maxPerOwner - std::min(mine, m_maxPerOwner) ||
        bytes > m_maxTotal - std::min(m_total, m_maxTotal)) {
        if (mine == 0) {
            m_byOwner.erase(owner);
        }
        return false;
    }
    mine += bytes;
    m_total += bytes;
    return true;
}

void InputBudget::release(Owner owner, size_t bytes) {
    if (exempt(owner) || bytes == 0) {
        return;
    }
    auto it = m_byOwner.find(owner);
    if (it == m_byOwner.end()) {
        return;
    }
    size_t returned = std::min(bytes, it->second);
    it->second -= returned;
    m_total -= std::min(returned, m_total);
    if (it->second == 0) {
        m_byOwner.erase(it);
    }
}

size_t InputBudget::claimedBy(Owner owner) const {
    auto it = m_byOwner.find(owner);
    return it == m_byOwner.end() ? 0 : it->second;
}

} // namespace virtswarm::bridge
