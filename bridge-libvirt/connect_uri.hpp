// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/paths.hpp"

#include <optional>
#include <string>

// Which connection URIs a bridge serves. libvirt's remote driver sends the URI with its
// transport and query stripped ("qemu+unix:///system?socket=..." arrives as
// "qemu:///system"); libvirtd hands it to the first driver that accepts it and answers
// VIR_ERR_NO_CONNECT when none does. The swarm has one driver, QEMU: a system bridge serves
// qemu:///system, a session bridge qemu:///session, so a root client asking for its session
// reaches root's own session swarm, never the system's domains. Driver-less URIs of the
// storage and network daemons (storage:///system, network:///system) would be added here.
namespace virtswarm::bridge {

// The URI a client is connected to once accepted (`uri`), or the message of the refusal
// (VIR_ERR_NO_CONNECT). An absent or empty name means the default: the bridge's own URI.
struct ConnectUriVerdict {
    bool accepted = false;
    std::string uri;
    std::string refusal;
};
ConnectUriVerdict acceptConnectUri(const std::optional<std::string>& name, BusMode mode);

// qemu:///system or qemu:///session.
std::string defaultConnectUri(BusMode mode);

} // namespace virtswarm::bridge
