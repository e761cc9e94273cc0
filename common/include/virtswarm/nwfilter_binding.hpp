// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/nwfilter_def.hpp"

#include <string>
#include <string_view>

namespace virtswarm::nwfilter {

// libvirt's <filterbinding>: a filter with its parameters bound to a guest's port (a TAP
// or veth on a bridge). Also how nwfilterd records a binding in its runtime directory.
struct BindingDef {
    std::string ownerName;
    UuidBytes ownerUuid{};
    std::string portDev;
    std::string linkDev; // optional
    std::string mac;     // the port's guest MAC: the value of $MAC unless given
    FilterRef filter;
};

struct BindingXml {
    BindingDef def;
    std::string xml;
};

inline constexpr size_t kMaxBindingXmlBytes = 64 * 1024;

// Errors: MalformedXML, InvalidXML (a missing or malformed element, a port device name
// that is not an interface name, a bad MAC or parameter).
Result<BindingXml> parseBindingXml(std::string_view text);

// A network interface name nftables can match and name chains after: 1 to 15 of
// [A-Za-z0-9_.-], starting with a letter.
bool validPortName(std::string_view name);

} // namespace virtswarm::nwfilter
