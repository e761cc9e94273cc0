// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/guest_agent.hpp"

namespace virtswarm {
namespace {

constexpr size_t kMaxEntries = 1024;

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

} // namespace virtswarm
