// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::actions {

std::vector<std::string> actionIds(const MethodAction& entry) {
    std::vector<std::string> out{std::string(entry.actionId)};
    if (!entry.alsoActionId.empty()) {
        out.emplace_back(entry.alsoActionId);
    }
    return out;
}

PolkitDetails objectDetails(std::string_view noun, const std::string& name, const UuidBytes& uuid) {
    std::string prefix(noun);
    return PolkitDetails{{prefix + "_name", name}, {prefix + "_uuid", formatUuid(uuid)}};
}

PolkitDetails nodeDeviceDetails(const std::string& name, const std::string& vendorId,
                                const std::string& productId, const std::string& deviceClass) {
    return PolkitDetails{{"node_device_name", name},
                         {"vendor_id", vendorId},
                         {"product_id", productId},
                         {"device_class", deviceClass}};
}

PolkitDetails bindingDetails(const std::string& portDev, const std::string& filterName) {
    return PolkitDetails{{"port_dev", portDev}, {"nwfilter_name", filterName}};
}

} // namespace virtswarm::actions
