// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "object_cache.hpp"
#include "remote_types.hpp"

#include <cstdint>
#include <optional>
#include <string>

// One domain's Domain.GetStats answer (libvirt's domstats keys: cpu.time, block.0.rd.bytes,
// ...) read the way the per-domain accounting procedures need it: numbers whatever their
// D-Bus integer type, and the index of a block or net entry a client names.
namespace virtswarm::bridge {

class DomainStatsRecord {
public:
    explicit DomainStatsRecord(PropertyMap stats)
        : m_stats(std::move(stats)) {}

    bool has(const std::string& key) const { return m_stats.count(key) != 0; }
    std::optional<uint64_t> u64(const std::string& key) const;
    std::optional<int64_t> i64(const std::string& key) const;
    std::optional<std::string> str(const std::string& key) const;
    std::optional<TypedValue> typed(const std::string& key) const;
    uint64_t u64Or(const std::string& key, uint64_t fallback) const {
        return u64(key).value_or(fallback);
    }

    // The N of the `group`.N entry ("block", "net") whose one of `fields` equals `name`.
    std::optional<uint64_t> find(const std::string& group,
                                 std::initializer_list<const char*> fields,
                                 const std::string& name) const;

private:
    PropertyMap m_stats;
};

// A statistic's D-Bus value as a libvirt typed parameter; nothing for a type libvirt's
// typed parameters cannot carry.
std::optional<TypedValue> typedValue(const sdbus::Variant& v);

} // namespace virtswarm::bridge
