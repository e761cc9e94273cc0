// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/async_reply.hpp"

#include <functional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <sys/types.h>
#include <utility>

namespace virtswarm::service {

// The first failed check among a method's argument checks (checkOptions, boolOption, ...),
// in the order given, or success.
inline Result<void> firstError() {
    return success();
}
template <typename First, typename... Rest>
Result<void> firstError(const First& first, const Rest&... rest) {
    if (!first) {
        return first.error();
    }
    return firstError(rest...);
}

// How every method of an object on the bus runs: its arguments checked, then polkit for
// the caller with the object's details, then the action, then the reply. Each step that
// fails answers the method with a named error and stops: nothing has changed. The action
// runs only if the object still exists when polkit answers.
//
// An object owns one gate, built with what the checks need to know of the object.
class MethodGate {
public:
    // `details`: the object's polkit details now (its name may change); `gone`: the error
    // when the object is removed while polkit decides.
    MethodGate(sdbus::IObject& object, Authority& authority, std::function<PolkitDetails()> details,
               std::function<Error()> gone);

    // `arguments`: the method's own checks (firstError(checkOptions(...), ...)).
    // `act(shared)` does the work and answers through reply()/fail().
    template <typename... Out, typename Act>
    void handle(sdbus::Result<Out...>&& result, Result<void> arguments,
                const actions::MethodAction& action, Act act) {
        auto shared = share(std::move(result));
        if (!arguments) {
            fail(shared, arguments.error());
            return;
        }
        authorize(action, [shared, act = std::move(act)](Result<void> allowed) mutable {
            if (!allowed) {
                fail(shared, allowed.error());
                return;
            }
            act(shared);
        });
    }

    // The polkit step alone, for callers that answer in their own way.
    void authorize(const actions::MethodAction& action, std::function<void(Result<void>)> then);
    // A further right for a caller captured earlier (Caller: currentCaller() while the
    // method was being handled), checked from inside an action, e.g. read-secure after
    // read. The gone-error of the object applies here too.
    void authorize(const Caller& caller, std::string_view actionId,
                   std::function<void(Result<void>)> then);

    // Who a method's caller is, as the polkit check learned it.
    struct AuthorizedCaller {
        std::string sender; // unique bus name
        uid_t uid;
    };

    // For a method whose polkit details depend on the call rather than on the object (a
    // table's entry, as lockd's leases of one domain): `details` are this call's, and
    // `act(shared, caller)` learns who asked, e.g. to record them as the holder.
    template <typename... Out, typename Act>
    void handleFor(sdbus::Result<Out...>&& result, Result<void> arguments,
                   const actions::MethodAction& action, PolkitDetails details, Act act) {
        auto shared = share(std::move(result));
        if (!arguments) {
            fail(shared, arguments.error());
            return;
        }
        authorizeCaller(action, std::move(details),
                        [shared, act = std::move(act)](Result<AuthorizedCaller> caller) mutable {
                            if (!caller) {
                                fail(shared, caller.error());
                                return;
                            }
                            act(shared, caller.value());
                        });
    }

    void authorizeCaller(const actions::MethodAction& action, PolkitDetails details,
                         std::function<void(Result<AuthorizedCaller>)> then);

private:
    sdbus::IObject& m_object;
    Authority& m_authority;
    std::function<PolkitDetails()> m_details;
    std::function<Error()> m_gone;
    Lifetime m_lifetime;
};

} // namespace virtswarm::service
