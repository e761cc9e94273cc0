// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/service/method_gate.hpp"

namespace virtswarm::service {

MethodGate::MethodGate(sdbus::IObject& object, Authority& authority,
                       std::function<PolkitDetails()> details, std::function<Error()> gone)
    : m_object(object)
    , m_authority(authority)
    , m_details(std::move(details))
    , m_gone(std::move(gone)) {}

void MethodGate::authorize(const actions::MethodAction& action,
                           std::function<void(Result<void>)> then) {
    // Read while the method is being handled: the caller and the object as it is now.
    authorize(currentCaller(m_object), action.actionId, std::move(then));
}

void MethodGate::authorize(const Caller& caller, std::string_view actionId,
                           std::function<void(Result<void>)> then) {
    auto guard = m_lifetime.guard();
    m_authority.checkBusName(
        caller.sender, std::string(actionId), m_details(), caller.allowInteraction,
        [guard, gone = m_gone(), then = std::move(then)](Result<void> verdict) {
            if (!guard.alive()) {
                then(gone);
                return;
            }
            then(std::move(verdict));
        });
}

void MethodGate::authorizeCaller(const actions::MethodAction& action, PolkitDetails details,
                                 std::function<void(Result<AuthorizedCaller>)> then) {
    Caller caller = currentCaller(m_object);
    auto guard = m_lifetime.guard();
    m_authority.checkBusNameForAll(caller.sender, actions::actionIds(action), details,
                                   caller.allowInteraction,
                                   [guard, sender = caller.sender, gone = m_gone(),
                                    then = std::move(then)](Result<uid_t> verdict) {
                                       if (!guard.alive()) {
                                           then(gone);
                                           return;
                                       }
                                       if (!verdict) {
                                           then(verdict.takeError());
                                           return;
                                       }
                                       then(AuthorizedCaller{sender, verdict.value()});
                                   });
}

} // namespace virtswarm::service
