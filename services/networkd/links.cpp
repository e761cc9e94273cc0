// SPDX-License-Identifier: LGPL-2.1-or-later
#include "links.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/uuid.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace virtswarm::network {
namespace {

Error nlError(const std::string& what, int err) {
    return Error(Code::OperationFailed, what + ": " + nl_geterror(err));
}

// The kernel keeps the bridge's STP settings only in sysfs and in IFLA_BR_* attributes
// that libnl3 cannot set; sysfs it is. In a network namespace whose /sys was not
// remounted the files are absent: the bridge then keeps the kernel default (no STP),
// which forwards at once.
void bridgeSysfs(const std::string& bridge, const char* file, const std::string& value) {
    std::string path = "/sys/class/net/" + bridge + "/bridge/" + file;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        log::debug("cannot set " + path + ": " + std::strerror(errno));
        return;
    }
    ssize_t ignored = ::write(fd, value.data(), value.size());
    (void)ignored;
    ::close(fd);
}

} // namespace

Links::Links() {
    m_sock = nl_socket_alloc();
    if (m_sock != nullptr && nl_connect(m_sock, NETLINK_ROUTE) < 0) {
        nl_socket_free(m_sock);
        m_sock = nullptr;
    }
}

Links::~Links() {
    if (m_sock != nullptr) {
        nl_socket_free(m_sock);
    }
}

int Links::ifindexOf(const std::string& name) {
    return static_cast<int>(if_nametoindex(name.c_str()));
}

bool Links::exists(const std::string& name) const {
    return ifindexOf(name) > 0;
}

bool Links::isBridge(const std::string& name) {
    rtnl_link* link = nullptr;
    if (m_sock == nullptr || rtnl_link_get_kernel(m_sock, 0, name.c_str(), &link) < 0) {
        return false;
    }
    bool bridge = rtnl_link_is_bridge(link) != 0;
    rtnl_link_put(link);
    return bridge;
}

Result<void> Links::createBridge(const std::string& name, const std::string& mac, bool stp,
                                 unsigned delay) {
    if (m_sock == nullptr) {
        return Error(Code::OperationFailed, "no rtnetlink socket");
    }
    rtnl_link* link = rtnl_link_bridge_alloc();
    rtnl_link_set_name(link, name.c_str());
    nl_addr* addr = nullptr;
    if (!mac.empty() && nl_addr_parse(mac.c_str(), AF_LLC, &addr) == 0) {
        rtnl_link_set_addr(link, addr);
    }
    int err = rtnl_link_add(m_sock, link, NLM_F_CREATE | NLM_F_EXCL);
    if (addr != nullptr) {
        nl_addr_put(addr);
    }
    rtnl_link_put(link);
    if (err < 0) {
        return nlError("cannot create bridge " + name, err);
    }
    // Forward delay before STP, so ports never sit in "listening" for the default 15 s.
    bridgeSysfs(name, "forward_delay", std::to_string(delay * 100));
    bridgeSysfs(name, "stp_state", stp ? "1" : "0");
    return setUp(name);
}

Result<void> Links::remove(const std::string& name) {
    rtnl_link* link = nullptr;
    if (m_sock == nullptr || rtnl_link_get_kernel(m_sock, 0, name.c_str(), &link) < 0) {
        return success(); // already gone
    }
    int err = rtnl_link_delete(m_sock, link);
    rtnl_link_put(link);
    return err < 0 ? Result<void>(nlError("cannot delete " + name, err)) : success();
}

Result<void> Links::setUp(const std::string& name) {
    rtnl_link* link = nullptr;
    if (m_sock == nullptr || rtnl_link_get_kernel(m_sock, 0, name.c_str(), &link) < 0) {
        return Error(Code::OperationFailed, "no link " + name);
    }
    rtnl_link* change = rtnl_link_alloc();
    rtnl_link_set_flags(change, IFF_UP);
    int err = rtnl_link_change(m_sock, link, change, 0);
    rtnl_link_put(change);
    rtnl_link_put(link);
    return err < 0 ? Result<void>(nlError("cannot bring " + name + " up", err)) : success();
}

Result<void> Links::addAddress(const std::string& linkName, int family, const std::string& address,
                               unsigned prefix) {
    int ifindex = ifindexOf(linkName);
    if (m_sock == nullptr || ifindex <= 0) {
        return Error(Code::OperationFailed, "no link " + linkName);
    }
    nl_addr* local = nullptr;
    std::string cidr = address + "/" + std::to_string(prefix);
    int err = nl_addr_parse(cidr.c_str(), family == 4 ? AF_INET : AF_INET6, &local);
    if (err < 0) {
        return nlError("bad address " + cidr, err);
    }
    rtnl_addr* addr = rtnl_addr_alloc();
    rtnl_addr_set_ifindex(addr, ifindex);
    rtnl_addr_set_local(addr, local);
    if (family == 6) {
        // No duplicate address detection: the bridge is ours and must serve at once.
        rtnl_addr_set_flags(addr, IFA_F_NODAD);
    }
    err = rtnl_addr_add(m_sock, addr, 0);
    rtnl_addr_put(addr);
    nl_addr_put(local);
    if (err < 0 && err != -NLE_EXIST) {
        return nlError("cannot add " + cidr + " to " + linkName, err);
    }
    return success();
}

Result<void> Links::enslave(const std::string& port, const std::string& bridge) {
    int master = ifindexOf(bridge);
    int slave = ifindexOf(port);
    if (m_sock == nullptr || master <= 0 || slave <= 0) {
        return Error(Code::OperationFailed, "cannot attach " + port + " to " + bridge);
    }
    int err = rtnl_link_enslave_ifindex(m_sock, master, slave);
    return err < 0 ? Result<void>(nlError("cannot attach " + port + " to " + bridge, err))
                   : success();
}

namespace {

// The subnet of an IPv4 route destination or local address with its prefix length.
void addIpv4Subnet(nl_addr* addr, unsigned prefix, std::vector<IpDef>& out) {
    if (addr == nullptr || nl_addr_get_family(addr) != AF_INET || prefix == 0) {
        return; // a default route reaches everything and says nothing about a subnet's use
    }
    char text[INET_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET, nl_addr_get_binary_addr(addr), text, sizeof text) == nullptr) {
        return;
    }
    IpDef subnet;
    subnet.address = text;
    subnet.prefix = prefix;
    out.push_back(std::move(subnet));
}

} // namespace

Result<std::vector<IpDef>> Links::hostIpv4Subnets() {
    if (m_sock == nullptr) {
        return Error(Code::OperationFailed, "no rtnetlink socket");
    }
    std::vector<IpDef> out;
    nl_cache* routes = nullptr;
    int err = rtnl_route_alloc_cache(m_sock, AF_INET, 0, &routes);
    if (err < 0) {
        return nlError("cannot list routes", err);
    }
    for (nl_object* o = nl_cache_get_first(routes); o != nullptr; o = nl_cache_get_next(o)) {
        nl_addr* dst = rtnl_route_get_dst(reinterpret_cast<rtnl_route*>(o));
        addIpv4Subnet(dst, dst != nullptr ? nl_addr_get_prefixlen(dst) : 0, out);
    }
    nl_cache_free(routes);
    nl_cache* addrs = nullptr;
    err = rtnl_addr_alloc_cache(m_sock, &addrs);
    if (err < 0) {
        return nlError("cannot list addresses", err);
    }
    for (nl_object* o = nl_cache_get_first(addrs); o != nullptr; o = nl_cache_get_next(o)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(o);
        addIpv4Subnet(rtnl_addr_get_local(addr),
                      static_cast<unsigned>(rtnl_addr_get_prefixlen(addr)), out);
    }
    nl_cache_free(addrs);
    return out;
}

Result<Links::Tap> Links::createTap(const std::string& bridge, uid_t owner) {
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return Error(Code::OperationFailed, std::string("/dev/net/tun: ") + std::strerror(errno));
    }
    ifreq ifr{};
    // VNET_HDR lets QEMU offload checksums; the kernel picks the number.
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::strncpy(ifr.ifr_name, "vstap%d", IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
        ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(owner)) < 0) {
        int err = errno;
        ::close(fd);
        return Error(Code::OperationFailed,
                     std::string("cannot create a TAP: ") + std::strerror(err));
    }
    Tap tap{fd, ifr.ifr_name};
    // The host side gets a MAC with a high first byte, so the bridge never takes it as
    // its own address (bridges use the lowest port MAC).
    UuidBytes r = randomUuid();
    static constexpr char kHex[] = "0123456789abcdef";
    std::string mac = "fe:54:00";
    for (size_t i = 0; i < 3; ++i) {
        mac += ':';
        mac += kHex[r[i] >> 4];
        mac += kHex[r[i] & 0xf];
    }
    rtnl_link* link = nullptr;
    if (rtnl_link_get_kernel(m_sock, 0, tap.name.c_str(), &link) == 0) {
        rtnl_link* change = rtnl_link_alloc();
        nl_addr* addr = nullptr;
        if (nl_addr_parse(mac.c_str(), AF_LLC, &addr) == 0) {
            rtnl_link_set_addr(change, addr);
            nl_addr_put(addr);
        }
        rtnl_link_change(m_sock, link, change, 0);
        rtnl_link_put(change);
        rtnl_link_put(link);
    }
    auto up = setUp(tap.name);
    auto attached = up ? enslave(tap.name, bridge) : up;
    if (!attached) {
        ::close(fd);
        return attached.takeError();
    }
    return tap;
}

} // namespace virtswarm::network
