// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/dbus_edge.hpp"

#include <systemd/sd-bus.h>

namespace virtswarm {

sdbus::Error toDBusError(const Error& error) {
    return sdbus::Error(std::string(error.dbusName()), error.message());
}

Error fromDBusError(const sdbus::Error& error) {
    return Error(codeFromDBusName(error.getName()), error.getMessage());
}

Result<void> checkOptions(const Options& options, std::initializer_list<const char*> allowed) {
    return checkOptions(options, std::vector<const char*>(allowed));
}

Result<void> checkOptions(const Options& options, const std::vector<const char*>& allowed) {
    for (const auto& [key, value] : options) {
        bool known = false;
        for (const char* a : allowed) {
            known = known || key == a;
        }
        if (!known) {
            return Error(Code::InvalidArgs, "unknown option '" + key + "'");
        }
    }
    return success();
}

namespace {

// An option of type T, `fallback` when absent; InvalidArgs naming `typeName` when it has
// another type.
template <typename T>
Result<T> typedOption(const Options& options, const char* key, T fallback, const char* typeName) {
    auto it = options.find(key);
    if (it == options.end()) {
        return fallback;
    }
    if (!it->second.containsValueOfType<T>()) {
        return Error(Code::InvalidArgs, std::string("option '") + key + "' must be " + typeName);
    }
    return it->second.get<T>();
}

} // namespace

Result<bool> boolOption(const Options& options, const char* key, bool fallback) {
    return typedOption(options, key, fallback, "a boolean");
}

Result<std::string> stringOption(const Options& options, const char* key,
                                 const std::string& fallback) {
    return typedOption(options, key, fallback, "a string");
}

Result<uint32_t> uintOption(const Options& options, const char* key, uint32_t fallback) {
    return typedOption(options, key, fallback, "a uint32");
}

Result<uint64_t> uint64Option(const Options& options, const char* key, uint64_t fallback) {
    return typedOption(options, key, fallback, "a uint64");
}

Result<ActivityFilter> activityFilter(const Options& options) {
    if (auto r = checkOptions(options, {"active", "inactive"}); !r) {
        return r.takeError();
    }
    auto active = boolOption(options, "active", false);
    auto inactive = boolOption(options, "inactive", false);
    if (!active || !inactive) {
        return !active ? active.takeError() : inactive.takeError();
    }
    return ActivityFilter{active.value() || !inactive.value(), inactive.value() || !active.value()};
}

Result<std::unique_ptr<sdbus::IConnection>> openBus(BusMode mode, const std::string& name) {
    try {
        auto connection = mode == BusMode::System ? sdbus::createSystemBusConnection()
                                                  : sdbus::createSessionBusConnection();
        if (!name.empty()) {
            connection->requestName(name);
        }
        return connection;
    } catch (const sdbus::Error& e) {
        return Error(Code::OperationFailed,
                     "cannot connect to the " + std::string(busModeName(mode)) + " bus" +
                         (name.empty() ? "" : " as " + name) + ": " + e.getMessage());
    }
}

namespace {

// sdbus-c++ 1.2 does not expose the message flags; a derived class may copy the message
// (taking a reference) and read the underlying sd_bus_message.
class RawMessage : public sdbus::Message {
public:
    explicit RawMessage(const sdbus::Message& m)
        : sdbus::Message(m) {}
    sd_bus_message* raw() const { return static_cast<sd_bus_message*>(msg_); }
};

} // namespace

Caller currentCaller(sdbus::IObject& object) {
    const sdbus::Message* message = object.getCurrentlyProcessedMessage();
    if (message == nullptr) {
        return {};
    }
    RawMessage raw(*message);
    return Caller{message->getSender(),
                  sd_bus_message_get_allow_interactive_authorization(raw.raw()) > 0};
}

std::string escapePathElement(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            out += static_cast<char>(c);
        } else {
            out += '_';
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    return out.empty() ? "_" : out;
}

std::optional<std::string> unescapePathElement(std::string_view element) {
    if (element == "_") {
        return std::string();
    }
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    std::string out;
    for (size_t i = 0; i < element.size(); ++i) {
        if (element[i] != '_') {
            out += element[i];
            continue;
        }
        if (i + 2 >= element.size()) {
            return std::nullopt;
        }
        int high = hex(element[i + 1]);
        int low = hex(element[i + 2]);
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

} // namespace virtswarm
