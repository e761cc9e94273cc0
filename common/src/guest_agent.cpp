// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/guest_agent.hpp"

#include <algorithm>
#include <cstdint>

namespace virtswarm {
namespace {

constexpr size_t kMaxEntries = 1024;
constexpr size_t kMaxHostname = 255;
constexpr int64_t kNanosecondsPerSecond = 1000000000;

Error malformed(const std::string& what) {
    return Error(Code::OperationFailed, "the guest agent's interface list is malformed: " + what);
}

std::string stringField(const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

Result<std::vector<GuestInterface>> parseGuestInterfaces(const nlohmann::json& reply) {
    if (!reply.is_array() || reply.size() > kMaxEntries) {
        return malformed("not a list (of at most 1024 interfaces)");
    }
    std::vector<GuestInterface> interfaces;
    for (const auto& entry : reply) {
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) {
            return malformed("an interface without a name");
        }
        GuestInterface nic{
            entry["name"].get<std::string>(), stringField(entry, "hardware-address"), {}};
        auto addresses = entry.find("ip-addresses");
        if (addresses != entry.end()) {
            if (!addresses->is_array() || addresses->size() > kMaxEntries) {
                return malformed("ip-addresses of " + nic.name);
            }
            for (const auto& a : *addresses) {
                auto prefix = a.is_object() ? a.find("prefix") : a.end();
                std::string type = a.is_object() ? stringField(a, "ip-address-type") : "";
                if ((type != "ipv4" && type != "ipv6") || prefix == a.end() ||
                    !prefix->is_number_unsigned() || prefix->get<uint64_t>() > 128) {
                    return malformed("an address of " + nic.name);
                }
                nic.addresses.push_back(
                    GuestAddress{type, stringField(a, "ip-address"),
                                 static_cast<uint32_t>(prefix->get<uint64_t>())});
            }
        }
        interfaces.push_back(std::move(nic));
    }
    return interfaces;
}

Result<GuestTime> parseGuestTime(const nlohmann::json& reply) {
    if (!reply.is_number_integer() || reply.get<int64_t>() < 0) {
        return Error(Code::OperationFailed, "the guest agent's time is not a time");
    }
    int64_t ns = reply.get<int64_t>();
    return GuestTime{ns / kNanosecondsPerSecond, static_cast<uint32_t>(ns % kNanosecondsPerSecond)};
}

Result<int64_t> guestTimeArgument(const GuestTime& time) {
    if (time.nseconds >= kNanosecondsPerSecond) {
        return Error(Code::InvalidArgs, "nseconds too big");
    }
    if (time.seconds < 0 || time.seconds > (INT64_MAX - time.nseconds) / kNanosecondsPerSecond) {
        return Error(Code::InvalidArgs, "time " + std::to_string(time.seconds) +
                                            " is out of the range the guest agent takes");
    }
    return time.seconds * kNanosecondsPerSecond + time.nseconds;
}

Result<std::string> parseGuestHostname(const nlohmann::json& reply) {
    std::string name = reply.is_object() ? stringField(reply, "host-name") : "";
    bool printable = std::all_of(name.begin(), name.end(),
                                 [](char c) { return static_cast<unsigned char>(c) >= 0x20; });
    if (name.empty() || name.size() > kMaxHostname || !printable) {
        return Error(Code::OperationFailed, "the guest agent's host name is malformed");
    }
    return name;
}

} // namespace virtswarm
