// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/polkit_actions.hpp"

namespace virtswarm::actions {

PolkitDetails objectDetails(std::string_view noun, const std::string& name, const UuidBytes& uuid) {
    std::string prefix(noun);
    return PolkitDetails{{prefix + "_name", name}, {prefix + "_uuid", formatUuid(uuid)}};
}

} // namespace virtswarm::actions
