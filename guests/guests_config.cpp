// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guests_config.hpp"

#include "virtswarm/atomic_file.hpp"

#include <charconv>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

namespace virtswarm::guests {
namespace {

Error badValue(int line, std::string_view key, std::string_view value, std::string_view accepted) {
    return Error(Code::InvalidArgs, "line " + std::to_string(line) + ": " + std::string(key) +
                                        "='" + std::string(value) + "' is not valid (" +
                                        std::string(accepted) + ")");
}

std::string_view trim(std::string_view s) {
    const char* blanks = " \t\r";
    auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    auto last = s.find_last_not_of(blanks);
    return s.substr(first, last - first + 1);
}

// The value as the shell would see it for the forms such files use: bare word, or one
// single- or double-quoted string, optionally followed by a comment.
std::optional<std::string> unquote(std::string_view raw) {
    raw = trim(raw);
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
        auto close = raw.find(raw.front(), 1);
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view rest = trim(raw.substr(close + 1));
        if (!rest.empty() && rest.front() != '#') {
            return std::nullopt;
        }
        return std::string(raw.substr(1, close - 1));
    }
    auto comment = raw.find(" #");
    std::string_view word = trim(raw.substr(0, comment));
    if (word.find_first_of(" \t\"'$`\\;") != std::string_view::npos) {
        return std::nullopt;
    }
    return std::string(word);
}

std::optional<unsigned> parseUnsigned(const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

std::optional<ShutdownAction> parseAction(const std::string& text) {
    if (text == "shutdown") {
        return ShutdownAction::Shutdown;
    }
    if (text == "suspend") {
        return ShutdownAction::Suspend;
    }
    if (text == "destroy") {
        return ShutdownAction::Destroy;
    }
    return std::nullopt;
}

using Setter = std::function<Result<void>(GuestsConfig&, int line, const std::string& value)>;

Setter seconds(std::chrono::seconds GuestsConfig::*field, std::string_view key) {
    return [field, key](GuestsConfig& c, int line, const std::string& v) -> Result<void> {
        auto n = parseUnsigned(v);
        if (!n) {
            return badValue(line, key, v, "a number of seconds");
        }
        c.*field = std::chrono::seconds(*n);
        return success();
    };
}

Setter action(ShutdownAction GuestsConfig::*field, std::string_view key, bool allowShutdown) {
    return [=](GuestsConfig& c, int line, const std::string& v) -> Result<void> {
        auto a = parseAction(v);
        if (!a || (!allowShutdown && *a == ShutdownAction::Shutdown)) {
            return badValue(line, key, v,
                            allowShutdown ? "shutdown, suspend or destroy" : "suspend or destroy");
        }
        c.*field = *a;
        return success();
    };
}

const std::map<std::string, Setter, std::less<>>& setters() {
    static const std::map<std::string, Setter, std::less<>> table{
        {"ON_BOOT",
         [](GuestsConfig& c, int line, const std::string& v) -> Result<void> {
             if (v != "start" && v != "ignore") {
                 return badValue(line, "ON_BOOT", v, "start or ignore");
             }
             c.onBoot = v == "start" ? BootAction::Start : BootAction::Ignore;
             return success();
         }},
        {"START_DELAY", seconds(&GuestsConfig::startDelay, "START_DELAY")},
        {"ON_SHUTDOWN", action(&GuestsConfig::onShutdown, "ON_SHUTDOWN", true)},
        {"SHUTDOWN_TIMEOUT", seconds(&GuestsConfig::shutdownTimeout, "SHUTDOWN_TIMEOUT")},
        {"ON_SHUTDOWN_TIMEOUT",
         action(&GuestsConfig::onShutdownTimeout, "ON_SHUTDOWN_TIMEOUT", false)},
        {"PARALLEL_SHUTDOWN",
         [](GuestsConfig& c, int line, const std::string& v) -> Result<void> {
             auto n = parseUnsigned(v);
             if (!n) {
                 return badValue(line, "PARALLEL_SHUTDOWN", v,
                                 "a number of guests, 0 for one at a time");
             }
             c.parallelShutdown = *n;
             return success();
         }},
        {"BYPASS_CACHE",
         [](GuestsConfig& c, int line, const std::string& v) -> Result<void> {
             if (v != "0" && v != "1") {
                 return badValue(line, "BYPASS_CACHE", v, "0 or 1");
             }
             c.bypassCache = v == "1";
             return success();
         }},
        {"BOOT_TIMEOUT", seconds(&GuestsConfig::bootTimeout, "BOOT_TIMEOUT")},
    };
    return table;
}

} // namespace

const char* actionName(ShutdownAction action) {
    switch (action) {
    case ShutdownAction::Shutdown:
        return "shutdown";
    case ShutdownAction::Suspend:
        return "suspend";
    case ShutdownAction::Destroy:
        return "destroy";
    }
    return "?";
}

Result<GuestsConfig> parseGuestsConfig(std::string_view text) {
    GuestsConfig config;
    int lineNo = 0;
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = trim(text.substr(0, newline));
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++lineNo;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            return Error(Code::InvalidArgs,
                         "line " + std::to_string(lineNo) + ": expected KEY=value");
        }
        std::string_view key = line.substr(0, eq);
        if (key.starts_with("export ")) {
            key = trim(key.substr(7));
        }
        auto setter = setters().find(key);
        if (setter == setters().end()) {
            return Error(Code::InvalidArgs, "line " + std::to_string(lineNo) +
                                                ": unknown setting '" + std::string(key) + "'");
        }
        auto value = unquote(line.substr(eq + 1));
        if (!value) {
            return Error(Code::InvalidArgs, "line " + std::to_string(lineNo) + ": the value of " +
                                                std::string(key) + " is not a plain word");
        }
        if (auto r = setter->second(config, lineNo, *value); !r) {
            return r.takeError();
        }
    }
    return config;
}

Result<GuestsConfig> loadGuestsConfig(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return GuestsConfig{};
    }
    auto text = readFile(path, 64 * 1024);
    if (!text) {
        return text.takeError();
    }
    auto config = parseGuestsConfig(text.value());
    if (!config) {
        return config.takeError().prefix(path);
    }
    return config;
}

} // namespace virtswarm::guests
