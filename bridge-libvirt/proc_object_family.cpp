// SPDX-License-Identifier: LGPL-2.1-or-later
#include "proc_object_family.hpp"

namespace virtswarm::bridge::family {

Table::Table(const ObjectFamily& f, const Handlers& h, std::span<const Procedure> kindSpecific) {
    std::string noun = f.noun, plural = f.plural;
    struct Entry {
        int32_t number;
        std::string name;
        Access access;
        Handler handler;
    };
    const Entry entries[] = {
        {f.lookupByName, "vir" + noun + "LookupByName", Access::Read, h.lookup},
        {f.lookupByUuid, "vir" + noun + "LookupByUUID", Access::Read, h.lookup},
        {f.listAll, "virConnectListAll" + plural, Access::Read, h.listAll},
        {f.numOfActive, "virConnectNumOf" + plural, Access::Read, h.numOf},
        {f.numOfInactive, "virConnectNumOfDefined" + plural, Access::Read, h.numOf},
        {f.listActive, "virConnectList" + plural, Access::Read, h.list},
        {f.listInactive, "virConnectListDefined" + plural, Access::Read, h.list},
        {f.isActive, "vir" + noun + "IsActive", Access::Read, h.fact},
        {f.isPersistent, "vir" + noun + "IsPersistent", Access::Read, h.fact},
        {f.getAutostart, "vir" + noun + "GetAutostart", Access::Read, h.fact},
        {f.setAutostart, "vir" + noun + "SetAutostart", Access::Write, h.setAutostart},
        {f.getXmlDesc, "vir" + noun + "GetXMLDesc", Access::Read, h.getXmlDesc},
    };
    // All names first: the procedures point into them.
    m_names.reserve(std::size(entries));
    for (const auto& e : entries) {
        m_names.push_back(e.name);
    }
    m_procedures.reserve(std::size(entries) + kindSpecific.size());
    for (size_t i = 0; i < std::size(entries); ++i) {
        const auto& e = entries[i];
        m_procedures.push_back(Procedure{e.number, m_names[i].c_str(), e.access, e.handler});
    }
    m_procedures.insert(m_procedures.end(), kindSpecific.begin(), kindSpecific.end());
}

} // namespace virtswarm::bridge::family
