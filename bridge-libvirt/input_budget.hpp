// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <sys/types.h>

// The memory clients may make the bridge hold for input it has not dispatched yet: every
// connection claims what its frame in progress needs before buffering it. Bounded per uid
// and in total; root is trusted and not counted (its connections are bounded by the frame
// size alone), so a user who fills the budget does not lock root out.
namespace virtswarm::bridge {

class InputBudget {
public:
    InputBudget(size_t maxPerOwner, size_t maxTotal)
        : m_maxPerOwner(maxPerOwner)
        , m_maxTotal(maxTotal) {}

    // The owner of a connection: its uid, or nullopt for peers without credentials (TCP),
    // which share one budget.
    using Owner = std::optional<uid_t>;

    // Grows the claim of `owner` by `bytes`; false, and nothing claimed, if that would
    // exceed a bound.
    bool claim(Owner owner, size_t bytes);
    // Returns bytes claimed earlier.
    void release(Owner owner, size_t bytes);

    size_t claimedTotal() const { return m_total; }
    size_t claimedBy(Owner owner) const;

private:
    static bool exempt(Owner owner) { return owner && *owner == 0; }

    size_t m_maxPerOwner;
    size_t m_maxTotal;
    size_t m_total = 0;
    std::map<Owner, size_t> m_byOwner;
};

} // namespace virtswarm::bridge
