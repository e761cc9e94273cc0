// SPDX-License-Identifier: LGPL-2.1-or-later
#include "qemu_ids.hpp"

namespace virtswarm::shim::qemu_id {
namespace {

constexpr std::string_view kDiskNodePrefix = "drive-";
constexpr std::string_view kNicBackendPrefix = "host";

std::string numbered(std::string_view prefix, size_t index) {
    return std::string(prefix) + std::to_string(index);
}

} // namespace

std::string disk(std::string_view targetDev) {
    return std::string(targetDev);
}

std::string diskNode(std::string_view diskId) {
    return std::string(kDiskNodePrefix) + std::string(diskId);
}

std::string diskFdset(std::string_view diskId) {
    return "virtswarm-disk:" + std::string(diskId);
}

std::optional<std::string> diskOfNode(std::string_view node) {
    if (node.size() <= kDiskNodePrefix.size() || !node.starts_with(kDiskNodePrefix)) {
        return std::nullopt;
    }
    return std::string(node.substr(kDiskNodePrefix.size()));
}

std::string bootNic(size_t index) {
    return numbered("net", index);
}

std::string hotplugNic(std::string_view mac) {
    std::string id = "net-";
    for (char c : mac) {
        if (c != ':') {
            id += c;
        }
    }
    return id;
}

std::string nicBackend(std::string_view nicId) {
    return std::string(kNicBackendPrefix) + std::string(nicId);
}

std::string nicTapFd(std::string_view nicId) {
    return "fd-" + std::string(nicId);
}

std::string serial(size_t index) {
    return numbered("serial", index);
}

std::string input(size_t index) {
    return numbered("input", index);
}

std::string balloon() {
    return "balloon0";
}

std::string vcpu(size_t index) {
    return numbered("vcpu", index);
}

std::string deletedDeviceId(std::string_view device, std::string_view path) {
    if (!device.empty()) {
        return std::string(device);
    }
    constexpr std::string_view peripheral = "/machine/peripheral/";
    if (path.substr(0, peripheral.size()) != peripheral) {
        return "";
    }
    path.remove_prefix(peripheral.size());
    return std::string(path.substr(0, path.find('/')));
}

bool isVcpu(std::string_view id) {
    return id.rfind("vcpu", 0) == 0;
}

} // namespace virtswarm::shim::qemu_id
