// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/network_def.hpp"

#include "definition_xml.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cstring>

namespace virtswarm::network {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}

using Address = std::array<uint8_t, 16>;

bool parseAddress(int family, const std::string& text, Address& out) {
    out.fill(0);
    return inet_pton(family == 4 ? AF_INET : AF_INET6, text.c_str(), out.data()) == 1;
}

size_t addressBytes(int family) {
    return family == 4 ? 4 : 16;
}

bool samePrefix(const Address& a, const Address& b, unsigned prefix) {
    for (unsigned bit = 0; bit < prefix; ++bit) {
        unsigned byte = bit / 8;
        unsigned mask = 0x80U >> (bit % 8);
        if ((a[byte] & mask) != (b[byte] & mask)) {
            return false;
        }
    }
    return true;
}

int compare(const Address& a, const Address& b, size_t n) {
    return std::memcmp(a.data(), b.data(), n);
}

unsigned prefixFromNetmask(const std::string& netmask, bool& ok) {
    Address mask;
    ok = parseAddress(4, netmask, mask);
    unsigned prefix = 0;
    bool seenZero = false;
    for (size_t bit = 0; ok && bit < 32; ++bit) {
        bool set = (mask[bit / 8] & (0x80U >> (bit % 8))) != 0;
        if (set && seenZero) {
            ok = false;
        }
        seenZero = seenZero || !set;
        prefix += set ? 1 : 0;
    }
    return prefix;
}

bool validMac(const std::string& mac) {
    if (mac.size() != 17) {
        return false;
    }
    for (size_t i = 0; i < mac.size(); ++i) {
        if (i % 3 == 2 ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i]))) {
            return false;
        }
    }
    return true;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s;
}

Result<IpDef> parseIp(xml::Node node) {
    IpDef ip;
    std::string family = xml::attribute(node, "family").value_or("ipv4");
    if (family != "ipv4" && family != "ipv6") {
        return invalid("ip family '" + family + "' is not ipv4 or ipv6");
    }
    ip.family = family == "ipv4" ? 4 : 6;
    ip.address = xml::attribute(node, "address").value_or("");
    Address self;
    if (!parseAddress(ip.family, ip.address, self)) {
        return invalid("invalid " + family + " address '" + ip.address + "'");
    }
    unsigned maxPrefix = ip.family == 4 ? 32 : 128;
    if (auto prefix = xml::attribute(node, "prefix")) {
        ip.prefix = static_cast<unsigned>(std::atoi(prefix->c_str()));
        if (prefix->empty() || ip.prefix == 0 || ip.prefix > maxPrefix) {
            return invalid("invalid prefix '" + *prefix + "'");
        }
    } else if (auto netmask = xml::attribute(node, "netmask"); netmask && ip.family == 4) {
        bool ok = false;
        ip.prefix = prefixFromNetmask(*netmask, ok);
        if (!ok || ip.prefix == 0) {
            return invalid("invalid netmask '" + *netmask + "'");
        }
    } else {
        ip.prefix = ip.family == 4 ? 24 : 64;
    }
    auto inSubnet = [&](const std::string& text) {
        Address a;
        return parseAddress(ip.family, text, a) && samePrefix(a, self, ip.prefix);
    };
    if (auto dhcp = xml::firstChild(node, "dhcp")) {
        for (xml::Node range : xml::children(dhcp, "range")) {
            DhcpRange r{xml::attribute(range, "start").value_or(""),
                        xml::attribute(range, "end").value_or("")};
            Address s, e;
            if (!inSubnet(r.start) || !inSubnet(r.end)) {
                return invalid("DHCP range " + r.start + " - " + r.end + " is not inside " +
                               ip.address + "/" + std::to_string(ip.prefix));
            }
            parseAddress(ip.family, r.start, s);
            parseAddress(ip.family, r.end, e);
            if (compare(s, e, addressBytes(ip.family)) > 0) {
                return invalid("DHCP range start " + r.start + " is after its end " + r.end);
            }
            ip.ranges.push_back(r);
        }
        for (xml::Node host : xml::children(dhcp, "host")) {
            DhcpHost h{lower(xml::attribute(host, "mac").value_or("")),
                       xml::attribute(host, "ip").value_or(""),
                       xml::attribute(host, "name").value_or("")};
            if (!h.mac.empty() && !validMac(h.mac)) {
                return invalid("invalid DHCP host MAC '" + h.mac + "'");
            }
            if (!inSubnet(h.ip)) {
                return invalid("DHCP host address '" + h.ip + "' is not inside the subnet");
            }
            if (h.mac.empty() && h.name.empty()) {
                return invalid("a DHCP host needs a mac or a name");
            }
            ip.hosts.push_back(h);
        }
    }
    return ip;
}

} // namespace

bool subnetsOverlap(const IpDef& a, const IpDef& b) {
    if (a.family != b.family) {
        return false;
    }
    Address x, y;
    parseAddress(a.family, a.address, x);
    parseAddress(b.family, b.address, y);
    return samePrefix(x, y, std::min(a.prefix, b.prefix));
}

Result<NetworkXml> parseNetworkXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, 1024 * 1024);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Document doc = std::move(parsed).value();
    xml::Node root = doc.root();
    if (xml::name(root) != "network") {
        return invalid("root element must be <network>, not <" + std::string(xml::name(root)) +
                       ">");
    }
    NetworkDef def;
    auto name = detail::takeName(root, "network", kMaxNetworkNameBytes);
    if (!name) {
        return name.takeError();
    }
    def.name = std::move(name).value();
    // dnsmasq's configuration names files after the network, one option a line.
    if (def.name.find(' ') != std::string::npos) {
        return invalid("network name '" + def.name + "' contains a space");
    }
    auto uuid = detail::takeOrAddUuid(root, xml::firstChild(root, "name"));
    if (!uuid) {
        return uuid.takeError();
    }
    def.uuid = uuid.value();
    if (auto forward = xml::firstChild(root, "forward")) {
        def.forwardMode = xml::attribute(forward, "mode").value_or("nat");
        def.forwardDev = xml::attribute(forward, "dev").value_or("");
        if (def.forwardMode != "nat" && def.forwardMode != "route" && def.forwardMode != "open" &&
            def.forwardMode != "bridge") {
            return Error(Code::ConfigUnsupported,
                         "forward mode '" + def.forwardMode + "' is not supported");
        }
    }
    if (auto bridge = xml::firstChild(root, "bridge")) {
        def.bridge = xml::attribute(bridge, "name").value_or("");
        def.stp = xml::attribute(bridge, "stp").value_or("on") != "off";
        def.delay =
            static_cast<unsigned>(std::atoi(xml::attribute(bridge, "delay").value_or("0").c_str()));
        if (def.bridge.size() > 15 || def.bridge.find_first_of("/ :") != std::string::npos) {
            return invalid("bridge name '" + def.bridge + "' is not a valid interface name");
        }
    }
    for (xml::Node ipNode : xml::children(root, "ip")) {
        auto ip = parseIp(ipNode);
        if (!ip) {
            return ip.takeError();
        }
        for (const auto& other : def.ips) {
            if (subnetsOverlap(other, ip.value())) {
                return invalid("two <ip> subnets of the network overlap");
            }
        }
        def.ips.push_back(std::move(ip).value());
    }
    if (def.forwardMode == "bridge") {
        if (def.bridge.empty()) {
            return invalid("forward mode 'bridge' needs <bridge name='...'/>");
        }
        if (!def.ips.empty()) {
            return invalid(
                "a network using a host bridge cannot have <ip> (the host's network owns it)");
        }
    } else {
        auto macNode = xml::firstChild(root, "mac");
        if (macNode != nullptr) {
            def.mac = lower(xml::attribute(macNode, "address").value_or(""));
            if (!validMac(def.mac)) {
                return invalid("invalid bridge MAC '" + def.mac + "'");
            }
        } else {
            UuidBytes r = randomUuid();
            static constexpr char kHex[] = "0123456789abcdef";
            def.mac = "52:54:00";
            for (int i = 0; i < 3; ++i) {
                def.mac += ':';
                def.mac += kHex[r[static_cast<size_t>(i)] >> 4];
                def.mac += kHex[r[static_cast<size_t>(i)] & 0xf];
            }
            xml::setAttribute(xml::appendChild(root, "mac"), "address", def.mac);
        }
    }
    if (auto dns = xml::firstChild(root, "dns")) {
        for (xml::Node host : xml::children(dns, "host")) {
            DnsHost h{xml::attribute(host, "ip").value_or(""), {}};
            for (xml::Node hn : xml::children(host, "hostname")) {
                h.hostnames.push_back(xml::text(hn));
            }
            Address a;
            if (!parseAddress(4, h.ip, a) && !parseAddress(6, h.ip, a)) {
                return invalid("invalid DNS host address '" + h.ip + "'");
            }
            def.dnsHosts.push_back(std::move(h));
        }
    }
    if (auto domain = xml::firstChild(root, "domain")) {
        def.domainName = xml::attribute(domain, "name").value_or("");
    }
    return NetworkXml{std::move(def), doc.serialize()};
}

Result<NetworkXml> withBridgeName(const NetworkXml& network, const std::string& bridge) {
    auto parsed = xml::Document::parse(network.xml);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Node root = parsed.value().root();
    xml::Node node = xml::firstChild(root, "bridge");
    if (node == nullptr) {
        node = xml::appendChild(root, "bridge");
    }
    xml::setAttribute(node, "name", bridge);
    return parseNetworkXml(parsed.value().serialize());
}

} // namespace virtswarm::network
