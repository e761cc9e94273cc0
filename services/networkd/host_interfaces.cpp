// SPDX-License-Identifier: LGPL-2.1-or-later
// The host's interfaces for libvirt's interface API (virsh iface-list, Cockpit's and
// virt-manager's host network lists): what rtnetlink says, read only. The loopback and the
// swarm's own TAPs are left out, as libvirt's udev backend leaves out what is not a host
// interface a guest could use.
#include "links.hpp"

#include <arpa/inet.h>
#include <map>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

namespace virtswarm::network {
namespace {

// libvirt's interface types from the kernel's link kind (none: a physical NIC).
std::string libvirtType(const char* kind) {
    std::string k = kind != nullptr ? kind : "";
    if (k == "bridge" || k == "bond" || k == "vlan") {
        return k;
    }
    return "ethernet";
}

std::string macText(nl_addr* addr) {
    if (addr == nullptr || nl_addr_get_len(addr) != 6) {
        return "";
    }
    char text[32] = {};
    nl_addr2str(addr, text, sizeof text);
    return text;
}

bool isOwnTap(const std::string& name, const char* kind) {
    return kind != nullptr && std::string(kind) == "tun" && name.rfind("vstap", 0) == 0;
}

} // namespace

Result<std::vector<Links::HostInterface>> Links::hostInterfaces() {
    if (m_sock == nullptr) {
        return Error(Code::OperationFailed, "no rtnetlink socket");
    }
    nl_cache* links = nullptr;
    if (int err = rtnl_link_alloc_cache(m_sock, AF_UNSPEC, &links); err < 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot list the host's links: ") + nl_geterror(err));
    }
    std::map<int, HostInterface> byIndex;
    for (nl_object* o = nl_cache_get_first(links); o != nullptr; o = nl_cache_get_next(o)) {
        auto* link = reinterpret_cast<rtnl_link*>(o);
        const char* name = rtnl_link_get_name(link);
        const char* kind = rtnl_link_get_type(link);
        unsigned flags = rtnl_link_get_flags(link);
        if (name == nullptr || (flags & IFF_LOOPBACK) != 0 || isOwnTap(name, kind)) {
            continue;
        }
        HostInterface iface;
        iface.name = name;
        iface.mac = macText(rtnl_link_get_addr(link));
        iface.type = libvirtType(kind);
        iface.up = (flags & IFF_UP) != 0;
        iface.mtu = rtnl_link_get_mtu(link);
        byIndex.emplace(rtnl_link_get_ifindex(link), std::move(iface));
    }
    nl_cache_free(links);
    nl_cache* addrs = nullptr;
    if (int err = rtnl_addr_alloc_cache(m_sock, &addrs); err < 0) {
        return Error(Code::OperationFailed,
                     std::string("cannot list the host's addresses: ") + nl_geterror(err));
    }
    for (nl_object* o = nl_cache_get_first(addrs); o != nullptr; o = nl_cache_get_next(o)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(o);
        auto it = byIndex.find(rtnl_addr_get_ifindex(addr));
        nl_addr* local = rtnl_addr_get_local(addr);
        if (it == byIndex.end() || local == nullptr) {
            continue;
        }
        int family = nl_addr_get_family(local);
        char text[INET6_ADDRSTRLEN] = {};
        if ((family != AF_INET && family != AF_INET6) ||
            inet_ntop(family, nl_addr_get_binary_addr(local), text, sizeof text) == nullptr) {
            continue;
        }
        it->second.addresses.push_back(
            HostAddress{family == AF_INET ? "ipv4" : "ipv6", text,
                        static_cast<unsigned>(rtnl_addr_get_prefixlen(addr))});
    }
    nl_cache_free(addrs);
    std::vector<HostInterface> out;
    for (auto& [index, iface] : byIndex) {
        out.push_back(std::move(iface));
    }
    return out;
}

} // namespace virtswarm::network
