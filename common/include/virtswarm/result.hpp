// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/error.hpp"

#include <cassert>
#include <optional>
#include <utility>
#include <variant>

namespace virtswarm {

// A value or an Error. Used everywhere inside the project; converted to
// sdbus::Error only at the D-Bus edge (see dbus_edge.hpp).
template <typename T> class [[nodiscard]] Result {
public:
    Result(T value)
        : m_v(std::move(value)) {}
    Result(Error error)
        : m_v(std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(m_v);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(m_v);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(m_v));
    }
    const Error& error() const {
        assert(!ok());
        return std::get<1>(m_v);
    }
    Error&& takeError() {
        assert(!ok());
        return std::get<1>(std::move(m_v));
    }
    T value_or(T fallback) const& { return ok() ? std::get<0>(m_v) : std::move(fallback); }

private:
    std::variant<T, Error> m_v;
};

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error)) {}

    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error& error() const {
        assert(!ok());
        return *m_error;
    }
    Error&& takeError() {
        assert(!ok());
        return std::move(*m_error);
    }

private:
    std::optional<Error> m_error;
};

inline Result<void> success() {
    return {};
}

} // namespace virtswarm
