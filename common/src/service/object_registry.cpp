// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/service/object_registry.hpp"

namespace virtswarm::service {

std::string objectPath(const char* pathPrefix, const UuidBytes& uuid) {
    return std::string(pathPrefix) + uuidHex(uuid);
}

std::string runtimeKey(const UuidBytes& uuid) {
    return uuidHex(uuid);
}

} // namespace virtswarm::service
