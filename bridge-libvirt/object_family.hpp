// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/error.hpp"

#include <cstdint>
#include <string_view>

// What a kind's libvirt lookup/list procedure family is called and numbered
// (proc_object_family.hpp serves it). The API names follow from the noun:
// vir<Noun>LookupByName, virConnectListAll<Plural>, virConnectNumOfDefined<Plural>, ...
namespace virtswarm::bridge {

struct ObjectFamily {
    const char* noun;   // "Domain", "Network", "StoragePool"
    const char* plural; // "Domains", "Networks", "StoragePools"
    int32_t lookupByName, lookupByUuid, listAll;
    int32_t numOfActive, numOfInactive, listActive, listInactive;
    int32_t isActive, isPersistent, getAutostart, setAutostart, getXmlDesc;
};

// How the family's answers and checks name a kind. The polkit actions themselves are the
// kind's methods' (virtswarm/polkit_actions.hpp: GetXML's for reading, SetAutostart's for
// autostart).
struct ObjectWire {
    const char* noun;              // "network": "no network with matching name 'x'"
    Code missing;                  // the error for an unknown object (Code::NoSuchNetwork)
    const char* detailPrefix;      // polkit details "network_name", "network_uuid"
    uint32_t listMax;              // the most objects a list may carry
    uint32_t xmlInactive;          // the GET_XML_DESC flag asking for the inactive definition
    uint32_t xmlSecure;            // the GET_XML_DESC flag asking for secrets (0: none) ...
    std::string_view secureAction; // ... and the polkit action it needs besides reading
};

} // namespace virtswarm::bridge
