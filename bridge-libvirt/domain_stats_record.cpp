// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_stats_record.hpp"

namespace virtswarm::bridge {

std::optional<int64_t> DomainStatsRecord::i64(const std::string& key) const {
    auto it = m_stats.find(key);
    if (it == m_stats.end()) {
        return std::nullopt;
    }
    const sdbus::Variant& v = it->second;
    if (v.containsValueOfType<int32_t>()) {
        return v.get<int32_t>();
    }
    if (v.containsValueOfType<uint32_t>()) {
        return v.get<uint32_t>();
    }
    if (v.containsValueOfType<int64_t>()) {
        return v.get<int64_t>();
    }
    if (v.containsValueOfType<uint64_t>()) {
        return static_cast<int64_t>(v.get<uint64_t>());
    }
    return std::nullopt;
}

std::optional<uint64_t> DomainStatsRecord::u64(const std::string& key) const {
    auto v = i64(key);
    if (!v) {
        return std::nullopt;
    }
    // Counters are unsigned 64-bit on D-Bus; the round trip through int64 keeps their bits.
    return static_cast<uint64_t>(*v);
}

std::optional<std::string> DomainStatsRecord::str(const std::string& key) const {
    auto it = m_stats.find(key);
    if (it == m_stats.end() || !it->second.containsValueOfType<std::string>()) {
        return std::nullopt;
    }
    return it->second.get<std::string>();
}

std::optional<uint64_t> DomainStatsRecord::find(const std::string& group,
                                                std::initializer_list<const char*> fields,
                                                const std::string& name) const {
    uint64_t count = u64Or(group + ".count", 0);
    for (uint64_t i = 0; i < count; ++i) {
        for (const char* field : fields) {
            if (str(group + "." + std::to_string(i) + "." + field) == name) {
                return i;
            }
        }
    }
    return std::nullopt;
}

std::optional<TypedValue> DomainStatsRecord::typed(const std::string& key) const {
    auto it = m_stats.find(key);
    return it == m_stats.end() ? std::nullopt : typedValue(it->second);
}

std::optional<TypedValue> typedValue(const sdbus::Variant& v) {
    if (v.containsValueOfType<int32_t>()) {
        return TypedValue(v.get<int32_t>());
    }
    if (v.containsValueOfType<uint32_t>()) {
        return TypedValue(v.get<uint32_t>());
    }
    if (v.containsValueOfType<int64_t>()) {
        return TypedValue(v.get<int64_t>());
    }
    if (v.containsValueOfType<uint64_t>()) {
        return TypedValue(v.get<uint64_t>());
    }
    if (v.containsValueOfType<double>()) {
        return TypedValue(v.get<double>());
    }
    if (v.containsValueOfType<bool>()) {
        return TypedValue(v.get<bool>());
    }
    if (v.containsValueOfType<std::string>()) {
        return TypedValue(v.get<std::string>());
    }
    if (v.containsValueOfType<uint16_t>()) {
        return TypedValue(uint32_t{v.get<uint16_t>()});
    }
    if (v.containsValueOfType<int16_t>()) {
        return TypedValue(int32_t{v.get<int16_t>()});
    }
    if (v.containsValueOfType<uint8_t>()) {
        return TypedValue(uint32_t{v.get<uint8_t>()});
    }
    return std::nullopt;
}

} // namespace virtswarm::bridge
