// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

// The edge between our Result/Error world and sdbus-c++: conversions, option parsing and
// connection set-up. Nothing inside a daemon throws; only code in adaptors uses these.
namespace virtswarm {

using Options = std::map<std::string, sdbus::Variant>;
// InterfaceAddresses: (name, hardware address, [(type "ipv4"|"ipv6", address, prefix)]).
using GuestAddressWire = sdbus::Struct<std::string, std::string, uint32_t>;
using GuestInterfaceWire = sdbus::Struct<std::string, std::string, std::vector<GuestAddressWire>>;
// A host interface (networkd's ListHostInterfaces): name, MAC, libvirt type, up, MTU, and
// its addresses as (family "ipv4"|"ipv6", address, prefix).
using HostInterfaceWire = sdbus::Struct<std::string, std::string, std::string, bool, uint32_t,
                                        std::vector<GuestAddressWire>>;

sdbus::Error toDBusError(const Error& error);
Error fromDBusError(const sdbus::Error& error);

// Completes an async method with the error as a named D-Bus error.
template <typename... Out> void replyError(sdbus::Result<Out...>& result, const Error& error) {
    result.returnError(toDBusError(error));
}

// Rejects keys outside `allowed` (InvalidArgs), so a typo is not silently ignored.
Result<void> checkOptions(const Options& options, std::initializer_list<const char*> allowed);
Result<void> checkOptions(const Options& options, const std::vector<const char*>& allowed);
// A boolean option; a value of another type is InvalidArgs.
Result<bool> boolOption(const Options& options, const char* key, bool fallback);
Result<uint32_t> uintOption(const Options& options, const char* key, uint32_t fallback);
Result<uint64_t> uint64Option(const Options& options, const char* key, uint64_t fallback);
Result<std::string> stringOption(const Options& options, const char* key,
                                 const std::string& fallback);

// The "active"/"inactive" options of list methods; neither means both, as with libvirt's
// list flags.
struct ActivityFilter {
    bool active = true;
    bool inactive = true;
    bool accepts(bool isActive) const { return isActive ? active : inactive; }
};
Result<ActivityFilter> activityFilter(const Options& options);

// Opens the system or session bus (honouring DBUS_SYSTEM_BUS_ADDRESS /
// DBUS_SESSION_BUS_ADDRESS) and, if `name` is given, requests it.
Result<std::unique_ptr<sdbus::IConnection>> openBus(BusMode mode, const std::string& name = {});

// The caller of the method being handled: its unique bus name and whether it set
// ALLOW_INTERACTIVE_AUTHORIZATION on the message. Valid only inside the handler.
struct Caller {
    std::string sender;
    bool allowInteraction = false;
};
Caller currentCaller(sdbus::IObject& object);

// Escapes arbitrary text into one object path element: [A-Za-z0-9] kept, other bytes _xx.
std::string escapePathElement(std::string_view text);
// The text escapePathElement made `element` from; nullopt for what it cannot have made.
std::optional<std::string> unescapePathElement(std::string_view element);

} // namespace virtswarm
