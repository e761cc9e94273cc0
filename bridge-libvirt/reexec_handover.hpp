// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "server.hpp"
#include "virtswarm/service/reexec.hpp"

#include <vector>

namespace virtswarm::bridge {

// Where handed-over descriptors wait, above every number systemd's numbering of the
// listening sockets (3, 4, ...) could land on.
inline constexpr int kParkingFd = 64;

// The environment variable naming the state of the connections handed over
// (service::passState): {"clients": [Client::handOver(), ...]}.
inline constexpr const char* kClientsStateVariable = "VIRTSWARM_PROXYD_CLIENTS_FD";

// Re-executes proxyd (an upgrade: the binary on disk may be new) handing its listening
// sockets to the new image as systemd passes them (LISTEN_FDS from fd 3, LISTEN_PID this
// process, LISTEN_FDNAMES "rw"/"ro"), so clients that connect meanwhile wait in the
// sockets' backlog and the socket files never go away, and its open client connections
// (`clients`, Server::handOverClients, their sockets parked at kParkingFd and above):
// libvirt clients keep their connection. Returns only on failure.
Error execWithListeners(const service::Reexec& reexec, std::vector<HandedListener> listeners,
                        const nlohmann::json& clients);

} // namespace virtswarm::bridge
