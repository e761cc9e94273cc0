// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/definer.hpp"

#include <charconv>
#include <cstdint>
#include <cstdio>

namespace virtswarm {
namespace {

// FNV-1a, 64 bits: identifies which XML a record belongs to (not a defence against a
// forger, who would need write access to root's directories anyway).
uint64_t fingerprint(std::string_view text) {
    uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

std::string hex64(uint64_t value) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
    return buffer;
}

} // namespace

Result<uid_t> resolveDefiner(uid_t caller, const Options& options) {
    auto it = options.find(kDefinerUidOption);
    if (it == options.end()) {
        return caller;
    }
    auto uid = uintOption(options, kDefinerUidOption, 0);
    if (!uid) {
        return uid.takeError();
    }
    // Naming oneself is harmless (a bridge running as the session user does).
    if (caller != 0 && uid.value() != caller) {
        return Error(Code::InvalidArgs, std::string("the option ") + kDefinerUidOption +
                                            " may name another uid only when root calls");
    }
    return static_cast<uid_t>(uid.value());
}

std::string formatDefinerRecord(uid_t definer, std::string_view xml) {
    return std::to_string(definer) + " " + std::to_string(xml.size()) + " " +
           hex64(fingerprint(xml)) + "\n";
}

Result<uid_t> parseDefinerRecord(std::string_view record, std::string_view xml) {
    std::string expectedTail =
        " " + std::to_string(xml.size()) + " " + hex64(fingerprint(xml)) + "\n";
    uid_t uid = 0;
    auto [end, ec] = std::from_chars(record.data(), record.data() + record.size(), uid);
    if (ec != std::errc() || end == record.data() ||
        std::string_view(end, static_cast<size_t>(record.data() + record.size() - end)) !=
            expectedTail) {
        return Error(Code::InvalidArgs, "the definer record does not belong to this definition");
    }
    return uid;
}

} // namespace virtswarm
