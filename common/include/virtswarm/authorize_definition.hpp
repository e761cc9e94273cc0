// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/uuid.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm {

using PathResult = std::shared_ptr<sdbus::Result<sdbus::ObjectPath>>;

inline void failPath(const PathResult& result, const Error& error) {
    result->returnError(toDBusError(error));
}

// What a DefineXML/CreateXML needs: the polkit actions (all of them, in order) and the
// options it accepts besides none.
struct DefinitionRights {
    std::vector<std::string> actionIds;
    std::vector<const char*> allowedOptions;
};

// How every DefineXML/CreateXML of the swarm begins: the options checked, the XML parsed
// (before polkit, which needs the object's name and UUID as details: <kind>_name,
// <kind>_uuid), then the polkit checks for the caller of the method being handled. `then`
// runs only if every action is allowed, with the caller's uid; every failure before it
// answers the method with a named error.
template <typename Parsed>
void authorizeDefinitionFor(
    sdbus::IObject& object, Authority& authority, sdbus::Result<sdbus::ObjectPath>&& result,
    const std::string& xml, const Options& options, const std::string& kind,
    DefinitionRights rights, const std::function<Result<Parsed>(const std::string&)>& parse,
    std::function<void(const PathResult&, const std::shared_ptr<Parsed>&, uid_t caller)> then) {
    auto shared = std::make_shared<sdbus::Result<sdbus::ObjectPath>>(std::move(result));
    if (auto r = checkOptions(options, rights.allowedOptions); !r) {
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
    PolkitDetails details =
        actions::objectDetails(kind, definition->def.name, definition->def.uuid);
    authority.checkBusNameForAll(caller.sender, std::move(rights.actionIds), details,
                                 caller.allowInteraction,
                                 [shared, definition, then = std::move(then)](Result<uid_t> uid) {
                                     if (!uid) {
                                         failPath(shared, uid.error());
                                         return;
                                     }
                                     then(shared, definition, uid.value());
                                 });
}

// The same for one action, no options, and callers that do not need the uid.
template <typename Parsed>
void authorizeDefinition(
    sdbus::IObject& object, Authority& authority, sdbus::Result<sdbus::ObjectPath>&& result,
    const std::string& xml, const Options& options, const std::string& kind, const char* actionId,
    const std::function<Result<Parsed>(const std::string&)>& parse,
    std::function<void(const PathResult&, const std::shared_ptr<Parsed>&)> then) {
    authorizeDefinitionFor<Parsed>(object, authority, std::move(result), xml, options, kind,
                                   DefinitionRights{{actionId}, {}}, parse,
                                   [then = std::move(then)](const PathResult& shared,
                                                            const std::shared_ptr<Parsed>& parsed,
                                                            uid_t) { then(shared, parsed); });
}

} // namespace virtswarm
