// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/uuid.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm {

using PathResult = std::shared_ptr<sdbus::Result<sdbus::ObjectPath>>;

inline void failPath(const PathResult& result, const Error& error) {
    result->returnError(toDBusError(error));
}

// How every DefineXML/CreateXML of the swarm begins: no options, the XML parsed (before
// polkit, which needs the object's name and UUID as details: <kind>_name, <kind>_uuid),
// then the polkit check for the caller of the method being handled. `then` runs only if
// allowed; every failure before it answers the method with a named error.
template <typename Parsed>
void authorizeDefinition(
    sdbus::IObject& object, Authority& authority, sdbus::Result<sdbus::ObjectPath>&& result,
    const std::string& xml, const Options& options, const std::string& kind, const char* actionId,
    const std::function<Result<Parsed>(const std::string&)>& parse,
    std::function<void(const PathResult&, const std::shared_ptr<Parsed>&)> then) {
    auto shared = std::make_shared<sdbus::Result<sdbus::ObjectPath>>(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        failPath(shared, r.error());
        return;
    }
    auto parsed = parse(xml);
    if (!parsed) {
        failPath(shared, parsed.error());
        return;
    }
    auto definition = std::make_shared<Parsed>(std::move(parsed).value());
    Caller caller = currentCaller(object);
    PolkitDetails details{{kind + "_name", definition->def.name},
                          {kind + "_uuid", formatUuid(definition->def.uuid)}};
    authority.checkBusName(caller.sender, actionId, details, caller.allowInteraction,
                           [shared, definition, then = std::move(then)](Result<void> allowed) {
                               if (!allowed) {
                                   failPath(shared, allowed.error());
                                   return;
                               }
                               then(shared, definition);
                           });
}

} // namespace virtswarm
