// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Facts about this host for NODE_GET_INFO, CONNECT_GET_HOSTNAME and
// CONNECT_GET_DOMAIN_CAPABILITIES, read from the kernel when asked.
namespace virtswarm::bridge {

struct NodeInfo {
    std::string model; // the CPU architecture, as libvirt reports it
    uint64_t memoryKiB = 0;
    int32_t cpus = 0;
    int32_t mhz = 0;
    int32_t nodes = 1;
    int32_t sockets = 1;
    int32_t cores = 0;
    int32_t threads = 1;
};

NodeInfo nodeInfo();
std::string hostName();

// A domainCapabilities document for QEMU on x86_64 describing what the swarm's shim
// actually supports (direct kernel boot, virtio/sata/ide disks, user networking, VNC).
std::string domainCapabilitiesXml(const std::string& emulator, const std::string& arch,
                                  const std::string& machine, const std::string& virtType);

} // namespace virtswarm::bridge
