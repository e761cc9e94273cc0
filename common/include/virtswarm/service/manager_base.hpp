// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::service {

// What every daemon's Manager object has in common: it is the ObjectManager of the
// objects of one kind, and answers LookupByName and LookupByUUID from their
// ObjectRegistry. A daemon's manager derives from it with its generated Manager adaptor
// (and any further interfaces, `Extra`), registers the adaptor, and adds its own methods:
// DefineXML, CreateXML, its List method (through listPaths), ...
//
// T may be incomplete where the manager is declared; it must be complete where the
// manager's constructor is defined.
template <typename T, typename ManagerAdaptor, typename... Extra>
class ManagerBase
    : public sdbus::AdaptorInterfaces<ManagerAdaptor, sdbus::ObjectManager_adaptor, Extra...> {
public:
    ManagerBase(sdbus::IConnection& connection, std::string path, const ObjectRegistry<T>& objects)
        : sdbus::AdaptorInterfaces<ManagerAdaptor, sdbus::ObjectManager_adaptor, Extra...>(
              connection, std::move(path))
        , m_objects(objects) {}

protected:
    ~ManagerBase() = default; // a base only: the daemon's manager unregisters the adaptor

    sdbus::ObjectPath LookupByName(const std::string& name) override {
        return pathOf(m_objects.lookupByName(name));
    }
    sdbus::ObjectPath LookupByUUID(const std::string& uuid) override {
        return pathOf(m_objects.lookupByUuid(uuid));
    }

    // A List method: the paths of every object, or of the active or inactive ones as the
    // options "active"/"inactive" ask (`isActive(object)` tells).
    template <typename IsActive>
    std::vector<sdbus::ObjectPath> listPaths(const Options& options, IsActive isActive) const {
        auto filter = activityFilter(options);
        if (!filter) {
            throw toDBusError(filter.error());
        }
        std::vector<sdbus::ObjectPath> out;
        for (T* object : m_objects.all()) {
            if (filter.value().accepts(isActive(*object))) {
                out.emplace_back(object->getObjectPath());
            }
        }
        return out;
    }

private:
    static sdbus::ObjectPath pathOf(const Result<T*>& found) {
        if (!found) {
            throw toDBusError(found.error());
        }
        return sdbus::ObjectPath(found.value()->getObjectPath());
    }

    const ObjectRegistry<T>& m_objects;
};

} // namespace virtswarm::service
