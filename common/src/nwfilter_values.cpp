// SPDX-License-Identifier: LGPL-2.1-or-later
// The attributes each protocol element of libvirt's filter XML has, and the type of each
// value: a filter with an unknown attribute or a malformed value is refused when it is
// defined, not when a guest's port is bound to it.
#include "virtswarm/nwfilter_def.hpp"

#include <arpa/inet.h>
#include <array>
#include <charconv>

namespace virtswarm::nwfilter {
namespace {

enum class Type {
    Mac,
    Ipv4,
    Ipv4Mask,
    Ipv6,
    Ipv6Mask,
    U8,
    U16,
    U32,
    VlanId,
    Dscp,
    EtherProtocol,
    IpProtocol,
    ArpOpcode,
    Bool,
    TcpFlags,
    State,
    Text,
};

struct AttributeType {
    std::string_view name;
    Type type;
};

// What every protocol element has.
constexpr std::array<AttributeType, 5> kMacAttributes{{
    {"srcmacaddr", Type::Mac},
    {"srcmacmask", Type::Mac},
    {"dstmacaddr", Type::Mac},
    {"dstmacmask", Type::Mac},
    {"comment", Type::Text},
}};

constexpr std::array<AttributeType, 3> kLayer2Extra{{
    {"protocolid", Type::EtherProtocol},
    {"vlanid", Type::VlanId},
    {"encap-protocol", Type::EtherProtocol},
}};

constexpr std::array<AttributeType, 10> kArpAttributes{{
    {"hwtype", Type::U16},
    {"protocoltype", Type::U16},
    {"opcode", Type::ArpOpcode},
    {"arpsrcmacaddr", Type::Mac},
    {"arpdstmacaddr", Type::Mac},
    {"arpsrcipaddr", Type::Ipv4},
    {"arpsrcipmask", Type::Ipv4Mask},
    {"arpdstipaddr", Type::Ipv4},
    {"arpdstipmask", Type::Ipv4Mask},
    {"gratuitous", Type::Bool},
}};

// Layer 3/4 attributes; the address types are those of the element's IP version.
constexpr std::array<AttributeType, 25> kIpAttributes{{
    {"srcipaddr", Type::Ipv4},
    {"srcipmask", Type::Ipv4Mask},
    {"dstipaddr", Type::Ipv4},
    {"dstipmask", Type::Ipv4Mask},
    {"srcipfrom", Type::Ipv4},
    {"srcipto", Type::Ipv4},
    {"dstipfrom", Type::Ipv4},
    {"dstipto", Type::Ipv4},
    {"protocol", Type::IpProtocol},
    {"srcportstart", Type::U16},
    {"srcportend", Type::U16},
    {"dstportstart", Type::U16},
    {"dstportend", Type::U16},
    {"dscp", Type::Dscp},
    {"state", Type::State},
    {"connlimit-above", Type::U16},
    {"ipset", Type::Text},
    {"ipsetflags", Type::Text},
    {"flags", Type::TcpFlags},
    {"option", Type::U8},
    {"type", Type::U8},
    {"typeend", Type::U8},
    {"code", Type::U8},
    {"codeend", Type::U8},
    {"statematch", Type::Bool},
}};

// STP's BPDU fields (parsed and kept; see docs/nwfilter.md for what is compiled).
constexpr std::array<std::string_view, 22> kStpAttributes{"type",
                                                          "flags",
                                                          "root-priority",
                                                          "root-priority-hi",
                                                          "root-address",
                                                          "root-address-mask",
                                                          "root-cost",
                                                          "root-cost-hi",
                                                          "sender-priority",
                                                          "sender-priority-hi",
                                                          "sender-address",
                                                          "sender-address-mask",
                                                          "port",
                                                          "port-hi",
                                                          "msg-age",
                                                          "msg-age-hi",
                                                          "max-age",
                                                          "max-age-hi",
                                                          "hello-time",
                                                          "hello-time-hi",
                                                          "forward-delay",
                                                          "forward-delay-hi"};

constexpr std::array<std::string_view, 9> kIpv4Elements{"ip", "tcp",  "udp",  "udplite", "esp",
                                                        "ah", "sctp", "icmp", "igmp"};
constexpr std::array<std::string_view, 9> kIpv6Elements{"ipv6",         "tcp-ipv6", "udp-ipv6",
                                                        "udplite-ipv6", "esp-ipv6", "ah-ipv6",
                                                        "sctp-ipv6",    "icmpv6",   "all-ipv6"};

template <typename List> bool contains(const List& list, std::string_view value) {
    for (const auto& item : list) {
        if (item == value) {
            return true;
        }
    }
    return false;
}

std::optional<unsigned long> number(std::string_view text) {
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
        base = 16;
    }
    unsigned long value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

bool isMac(std::string_view text) {
    if (text.size() != 17) {
        return false;
    }
    for (size_t i = 0; i < text.size(); ++i) {
        bool colon = i % 3 == 2;
        bool ok = colon ? text[i] == ':' : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool isAddress(int family, std::string_view text) {
    std::array<unsigned char, 16> buffer{};
    std::string copy(text);
    return inet_pton(family, copy.c_str(), buffer.data()) == 1;
}

bool inList(std::string_view value, std::initializer_list<std::string_view> names) {
    for (auto n : names) {
        if (n == value) {
            return true;
        }
    }
    return false;
}

// Comma-separated words each from `names`.
bool wordsIn(std::string_view value, std::initializer_list<std::string_view> names) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        if (!inList(value.substr(0, comma), names)) {
            return false;
        }
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    }
    return true;
}

bool valid(Type type, std::string_view v) {
    auto n = number(v);
    switch (type) {
    case Type::Mac:
        return isMac(v);
    case Type::Ipv4:
        return isAddress(AF_INET, v);
    case Type::Ipv4Mask:
        return (n && *n <= 32) || isAddress(AF_INET, v);
    case Type::Ipv6:
        return isAddress(AF_INET6, v);
    case Type::Ipv6Mask:
        return (n && *n <= 128) || isAddress(AF_INET6, v);
    case Type::U8:
        return n && *n <= 0xff;
    case Type::U16:
        return n && *n <= 0xffff;
    case Type::U32:
        return n && *n <= 0xffffffffUL;
    case Type::VlanId:
        return n && *n <= 4095;
    case Type::Dscp:
        return n && *n <= 63;
    case Type::EtherProtocol:
        return inList(v, {"ipv4", "ipv6", "arp", "rarp", "vlan", "stp", "mac"}) ||
               (n && *n >= 0x600 && *n <= 0xffff);
    case Type::IpProtocol:
        return inList(v,
                      {"tcp", "udp", "udplite", "esp", "ah", "icmp", "igmp", "sctp", "icmpv6"}) ||
               (n && *n <= 0xff);
    case Type::ArpOpcode:
        return inList(v, {"Request", "Reply", "Request_Reverse", "Reply_Reverse", "DRARP_Request",
                          "DRARP_Reply", "DRARP_Error", "InARP_Request", "ARP_NAK"}) ||
               (n && *n <= 0xffff);
    case Type::Bool:
        return inList(v, {"true", "false", "yes", "no", "1", "0"});
    case Type::TcpFlags: {
        size_t slash = v.find('/');
        std::initializer_list<std::string_view> flags = {"SYN", "ACK", "URG", "PSH",
                                                         "FIN", "RST", "ALL", "NONE"};
        return slash != std::string_view::npos && wordsIn(v.substr(0, slash), flags) &&
               wordsIn(v.substr(slash + 1), flags);
    }
    case Type::State:
        return wordsIn(v, {"NEW", "ESTABLISHED", "RELATED", "INVALID", "NONE"});
    case Type::Text:
        return v.find_first_of("\"\\\n\r") == std::string_view::npos;
    }
    return false;
}

std::optional<Type> typeOf(std::string_view protocol, std::string_view attribute) {
    for (const auto& a : kMacAttributes) {
        if (a.name == attribute) {
            return a.type;
        }
    }
    if (protocol == "mac" || protocol == "vlan") {
        for (const auto& a : kLayer2Extra) {
            if (a.name == attribute && (protocol == "vlan") == (a.name != "protocolid")) {
                return a.type;
            }
        }
        return std::nullopt;
    }
    if (protocol == "arp" || protocol == "rarp") {
        for (const auto& a : kArpAttributes) {
            if (a.name == attribute) {
                return a.type;
            }
        }
        return std::nullopt;
    }
    if (protocol == "stp") {
        return contains(kStpAttributes, attribute) ? std::optional<Type>(Type::U32) : std::nullopt;
    }
    bool v6 = contains(kIpv6Elements, protocol);
    for (const auto& a : kIpAttributes) {
        if (a.name != attribute) {
            continue;
        }
        if (v6 && a.type == Type::Ipv4) {
            return Type::Ipv6;
        }
        if (v6 && a.type == Type::Ipv4Mask) {
            return Type::Ipv6Mask;
        }
        return a.type;
    }
    return std::nullopt;
}

} // namespace

bool knownProtocol(std::string_view protocol) {
    return inList(protocol, {"mac", "vlan", "stp", "arp", "rarp", "all"}) ||
           contains(kIpv4Elements, protocol) || contains(kIpv6Elements, protocol);
}

Result<void> checkAttributeValue(std::string_view protocol, std::string_view attribute,
                                 std::string_view value) {
    auto type = typeOf(protocol, attribute);
    std::string where = std::string(attribute) + " of <" + std::string(protocol) + ">";
    if (!type) {
        return Error(Code::InvalidXML, "unknown attribute " + where);
    }
    if (type == Type::U32 && protocol == "stp" && attribute.find("address") != std::string::npos) {
        type = Type::Mac;
    }
    if (!valid(*type, value)) {
        return Error(Code::InvalidXML, "'" + std::string(value) + "' is not a valid " + where);
    }
    return success();
}

} // namespace virtswarm::nwfilter
