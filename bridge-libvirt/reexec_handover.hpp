// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "server.hpp"
#include "virtswarm/service/reexec.hpp"

#include <vector>

namespace virtswarm::bridge {

// Re-executes proxyd (an upgrade: the binary on disk may be new) handing its listening
// sockets to the new image as systemd passes them (LISTEN_FDS from fd 3, LISTEN_PID this
// process, LISTEN_FDNAMES "rw"/"ro"), so clients that connect meanwhile wait in the
// sockets' backlog and the socket files never go away. Client connections end with the
// old image: libvirt clients see the connection close and reconnect. Returns only on
// failure.
Error execWithListeners(const service::Reexec& reexec, std::vector<HandedListener> listeners);

} // namespace virtswarm::bridge
