// SPDX-License-Identifier: LGPL-2.1-or-later
// libvirt's interface API, read only: the host's interfaces as networkd sees them
// (Manager.ListHostInterfaces), asked afresh for every call. Up interfaces are libvirt's
// active ones, down ones its defined (inactive) ones, as with libvirt's udev backend.
// Cockpit and virt-manager list them when they offer a host device for a guest's NIC.
#include "procedures.hpp"
#include "protocol.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <functional>

namespace virtswarm::bridge {
namespace {

using Interfaces = std::vector<HostInterfaceWire>;

constexpr uint32_t kListInactive = 1; // VIR_CONNECT_LIST_INTERFACES_INACTIVE
constexpr uint32_t kListActive = 2;   // VIR_CONNECT_LIST_INTERFACES_ACTIVE
constexpr uint32_t kXmlInactive = 1;  // VIR_INTERFACE_XML_INACTIVE

const std::string& nameOf(const HostInterfaceWire& i) {
    return i.get<0>();
}
const std::string& macOf(const HostInterfaceWire& i) {
    return i.get<1>();
}
bool upOf(const HostInterfaceWire& i) {
    return i.get<3>();
}

// The interfaces, then `then`; networkd's errors go to the client.
void withInterfaces(Services& services, const CallPtr& call,
                    std::function<void(const Interfaces&)> then) {
    services.networks.listHostInterfaces([call, then](Result<Interfaces> r) {
        if (!r) {
            call->fail(r.error());
            return;
        }
        then(r.value());
    });
}

RpcError noInterface(const std::string& what) {
    RpcError e;
    e.code = proto::err::kNoInterface;
    e.domain = proto::err::kFromInterface;
    e.message = "Interface not found: " + what;
    return e;
}

// The interface named (by name, or MAC for LOOKUP_BY_MAC_STRING), then `then`.
void withInterface(Services& services, const CallPtr& call, const std::string& key, bool byMac,
                   std::function<void(const HostInterfaceWire&)> then) {
    withInterfaces(services, call, [call, key, byMac, then](const Interfaces& all) {
        auto it = std::find_if(all.begin(), all.end(), [&](const HostInterfaceWire& i) {
            return byMac ? macOf(i) == key : nameOf(i) == key;
        });
        if (it == all.end()) {
            call->fail(noInterface(byMac ? "couldn't find interface with MAC address '" + key + "'"
                                         : "couldn't find interface named '" + key + "'"));
            return;
        }
        then(*it);
    });
}

void writeInterface(xdr::Writer& w, const HostInterfaceWire& i) {
    w.string(nameOf(i));
    w.string(macOf(i));
}

// A remote_nonnull_interface argument: the name is what identifies it.
std::string readInterfaceName(xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    args.string(proto::kStringMax); // its MAC
    return name;
}

// libvirt's interface XML of a host interface (as its udev backend writes it, with the
// addresses netcf used to add).
std::string formatInterfaceXml(const HostInterfaceWire& i) {
    std::string xml = "<interface type='" + xml::escape(i.get<2>()) + "' name='" +
                      xml::escape(nameOf(i)) + "'>\n";
    if (!macOf(i).empty()) {
        xml += "  <mac address='" + xml::escape(macOf(i)) + "'/>\n";
    }
    xml += "  <mtu size='" + std::to_string(i.get<4>()) + "'/>\n";
    xml += std::string("  <link state='") + (upOf(i) ? "up" : "down") + "'/>\n";
    for (const char* family : {"ipv4", "ipv6"}) {
        std::string ips;
        for (const auto& a : i.get<5>()) {
            if (a.get<0>() == family) {
                ips += "    <ip address='" + xml::escape(a.get<1>()) + "' prefix='" +
                       std::to_string(a.get<2>()) + "'/>\n";
            }
        }
        if (!ips.empty()) {
            xml += std::string("  <protocol family='") + family + "'>\n" + ips + "  </protocol>\n";
        }
    }
    return xml + "</interface>\n";
}

// NUM_OF_INTERFACES (up) and NUM_OF_DEFINED_INTERFACES (down).
void numOf(Services& services, const CallPtr& call, xdr::Reader& args) {
    bool active = call->procedure() == proto::ConnectNumOfInterfaces;
    if (!argsDone(call, args)) {
        return;
    }
    withInterfaces(services, call, [call, active](const Interfaces& all) {
        xdr::Writer w;
        w.i32(static_cast<int32_t>(std::count_if(
            all.begin(), all.end(), [&](const auto& i) { return upOf(i) == active; })));
        call->reply(w);
    });
}

// LIST_INTERFACES (up) and LIST_DEFINED_INTERFACES (down): at most maxnames names.
void listNames(Services& services, const CallPtr& call, xdr::Reader& args) {
    bool active = call->procedure() == proto::ConnectListInterfaces;
    int32_t maxnames = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (maxnames < 0 || static_cast<uint32_t>(maxnames) > proto::kInterfaceListMax) {
        call->fail(Error(Code::InvalidArgs,
                         "maxnames must be in 0.." + std::to_string(proto::kInterfaceListMax)));
        return;
    }
    withInterfaces(services, call, [call, active, maxnames](const Interfaces& all) {
        std::vector<std::string> names;
        for (const auto& i : all) {
            if (upOf(i) == active && names.size() < static_cast<size_t>(maxnames)) {
                names.push_back(nameOf(i));
            }
        }
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(names.size()));
        for (const auto& n : names) {
            w.string(n);
        }
        call->reply(w);
    });
}

void listAll(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kListInactive | kListActive)) {
        return;
    }
    withInterfaces(services, call, [call, needResults, flags](const Interfaces& all) {
        // Neither or both flags: every interface.
        bool both = (flags & (kListInactive | kListActive)) == 0 ||
                    (flags & (kListInactive | kListActive)) == (kListInactive | kListActive);
        std::vector<const HostInterfaceWire*> chosen;
        for (const auto& i : all) {
            if (both || ((flags & kListActive) != 0) == upOf(i)) {
                chosen.push_back(&i);
            }
        }
        xdr::Writer w;
        if (needResults != 0) {
            w.u32(static_cast<uint32_t>(chosen.size()));
            for (const auto* i : chosen) {
                writeInterface(w, *i);
            }
        } else {
            w.u32(0);
        }
        w.u32(static_cast<uint32_t>(chosen.size()));
        call->reply(w);
    });
}

void lookup(Services& services, const CallPtr& call, xdr::Reader& args) {
    bool byMac = call->procedure() == proto::InterfaceLookupByMacString;
    std::string key = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    withInterface(services, call, key, byMac, [call](const HostInterfaceWire& i) {
        xdr::Writer w;
        writeInterface(w, i);
        call->reply(w);
    });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = readInterfaceName(args);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags, kXmlInactive)) {
        return;
    }
    withInterface(services, call, name, false, [call](const HostInterfaceWire& i) {
        xdr::Writer w;
        w.string(formatInterfaceXml(i));
        call->reply(w);
    });
}

void isActive(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = readInterfaceName(args);
    if (!argsDone(call, args)) {
        return;
    }
    withInterface(services, call, name, false, [call](const HostInterfaceWire& i) {
        xdr::Writer w;
        w.i32(upOf(i) ? 1 : 0);
        call->reply(w);
    });
}

constexpr Procedure kProcedures[] = {
    {proto::ConnectNumOfInterfaces, "virConnectNumOfInterfaces", Access::Read, numOf},
    {proto::ConnectNumOfDefinedInterfaces, "virConnectNumOfDefinedInterfaces", Access::Read, numOf},
    {proto::ConnectListInterfaces, "virConnectListInterfaces", Access::Read, listNames},
    {proto::ConnectListDefinedInterfaces, "virConnectListDefinedInterfaces", Access::Read,
     listNames},
    {proto::ConnectListAllInterfaces, "virConnectListAllInterfaces", Access::Read, listAll},
    {proto::InterfaceLookupByName, "virInterfaceLookupByName", Access::Read, lookup},
    {proto::InterfaceLookupByMacString, "virInterfaceLookupByMACString", Access::Read, lookup},
    {proto::InterfaceGetXmlDesc, "virInterfaceGetXMLDesc", Access::Read, getXmlDesc},
    {proto::InterfaceIsActive, "virInterfaceIsActive", Access::Read, isActive},
};

} // namespace

std::span<const Procedure> interfaceProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
