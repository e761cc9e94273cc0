// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <sys/types.h>

// What clients may make the bridge hold for input it has not dispatched yet: the bytes of
// the frame in progress (each connection claims them before buffering), and the file
// descriptors received with it (one unit each; a second budget). Bounded per uid and in
// total; root is trusted and not counted (its connections are bounded by the frame size
// alone), so a user who fills a budget does not lock root out.
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

// The two budgets every connection draws on.
struct InputBudgets {
    InputBudget bytes; // of frames being received
    InputBudget fds;   // descriptors received and not yet handed to a call
};

} // namespace virtswarm::bridge
