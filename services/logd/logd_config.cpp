// SPDX-License-Identifier: LGPL-2.1-or-later
#include "logd_config.hpp"

#include <charconv>
#include <sstream>

namespace virtswarm::log_daemon {
namespace {

std::string trimmed(const std::string& s) {
    size_t begin = s.find_first_not_of(" \t");
    if (begin == std::string::npos) {
        return {};
    }
    size_t end = s.find_last_not_of(" \t");
    return s.substr(begin, end - begin + 1);
}

Result<uint64_t> number(const std::string& value, uint64_t max) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n > max) {
        return Error(Code::InvalidArgs,
                     "'" + value + "' is not a number up to " + std::to_string(max));
    }
    return n;
}

} // namespace

Result<LogdConfig> parseLogdConfig(const std::string& text) {
    LogdConfig config;
    std::istringstream lines(text);
    std::string line;
    for (int lineNo = 1; std::getline(lines, line); ++lineNo) {
        line = trimmed(line.substr(0, line.find('#')));
        if (line.empty()) {
            continue;
        }
        auto where = "logd.conf line " + std::to_string(lineNo) + ": ";
        size_t eq = line.find('=');
        if (eq == std::string::npos) {
            return Error(Code::InvalidArgs, where + "expected key = value");
        }
        std::string key = trimmed(line.substr(0, eq));
        std::string value = trimmed(line.substr(eq + 1));
        Result<uint64_t> n = uint64_t{0};
        if (key == "max_size") {
            n = number(value, uint64_t{1} << 40);
            if (n && n.value() == 0) {
                n = Error(Code::InvalidArgs, "max_size must be at least 1");
            }
            config.rotation.maxSize = n.value_or(0);
        } else if (key == "max_backups") {
            n = number(value, 1000);
            config.rotation.maxBackups = static_cast<unsigned>(n.value_or(0));
        } else if (key == "rate_limit") {
            n = number(value, uint64_t{1} << 40);
            config.rateLimit = n.value_or(0);
        } else if (key == "journal_socket") {
            if (value.empty() || value[0] != '/') {
                n = Error(Code::InvalidArgs, "journal_socket must be an absolute path");
            }
            config.journalSocket = value;
        } else {
            return Error(Code::InvalidArgs, where + "unknown key '" + key + "'");
        }
        if (!n) {
            return Error(Code::InvalidArgs, where + n.error().message());
        }
    }
    return config;
}

} // namespace virtswarm::log_daemon
