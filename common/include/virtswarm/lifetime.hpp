// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <memory>

namespace virtswarm {

// Async completions (D-Bus replies, polkit verdicts, timers) may arrive after the object
// that started them is gone. The object owns a Lifetime; callbacks capture a Guard and
// do nothing once the object has been destroyed.
class Lifetime {
public:
    class Guard {
    public:
        explicit Guard(std::weak_ptr<int> w)
            : m_w(std::move(w)) {}
        bool alive() const { return !m_w.expired(); }

    private:
        std::weak_ptr<int> m_w;
    };

    Guard guard() const { return Guard(m_token); }

private:
    std::shared_ptr<int> m_token = std::make_shared<int>(0);
};

} // namespace virtswarm
