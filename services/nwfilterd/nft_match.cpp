// SPDX-License-Identifier: LGPL-2.1-or-later
#include "nft_match.hpp"

#include <arpa/inet.h>
#include <array>
#include <bit>
#include <charconv>
#include <cstdio>

namespace virtswarm::nwfilter {
namespace {

Error unsupported(std::string_view attribute, std::string_view protocol) {
    return Error(Code::ConfigUnsupported, std::string(attribute) + " of <" + std::string(protocol) +
                                              "> cannot be compiled to nftables");
}

bool isNumber(std::string_view v) {
    return !v.empty() && (v.find_first_not_of("0123456789") == std::string_view::npos ||
                          (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')));
}

unsigned long toNumber(std::string_view v) {
    unsigned long n = 0;
    bool hex = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
    std::from_chars(v.data() + (hex ? 2 : 0), v.data() + v.size(), n, hex ? 16 : 10);
    return n;
}

std::string hex(unsigned long value, int digits) {
    std::array<char, 24> buffer{};
    std::snprintf(buffer.data(), buffer.size(), "0x%0*lx", digits, value);
    return buffer.data();
}

// A prefix length from a mask that is a number or an address ("255.255.255.0" -> 24).
Result<int> prefixLength(int family, std::string_view mask) {
    if (isNumber(mask)) {
        return static_cast<int>(toNumber(mask));
    }
    std::array<unsigned char, 16> bytes{};
    std::string copy(mask);
    inet_pton(family, copy.c_str(), bytes.data());
    size_t size = family == AF_INET ? 4 : 16;
    int bits = 0;
    bool ended = false;
    for (size_t i = 0; i < size; ++i) {
        for (int b = 7; b >= 0; --b) {
            bool set = ((bytes[i] >> b) & 1) != 0;
            if (set && ended) {
                return Error(Code::ConfigUnsupported,
                             "mask " + copy + " is not a prefix (its ones are not contiguous)");
            }
            ended = ended || !set;
            bits += set ? 1 : 0;
        }
    }
    return bits;
}

unsigned long macBits(std::string_view mac) {
    unsigned long value = 0;
    for (size_t i = 0; i < mac.size(); i += 3) {
        value = (value << 8) | toNumber("0x" + std::string(mac.substr(i, 2)));
    }
    return value;
}

uint32_t ipv4Bits(std::string_view address) {
    in_addr a{};
    std::string copy(address);
    inet_pton(AF_INET, copy.c_str(), &a);
    return ntohl(a.s_addr);
}

std::string etherType(std::string_view protocol) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kNames{{
        {"ipv4", "ip"},
        {"ipv6", "ip6"},
        {"arp", "arp"},
        {"vlan", "8021q"},
    }};
    for (const auto& [name, nft] : kNames) {
        if (name == protocol) {
            return std::string(nft);
        }
    }
    if (protocol == "rarp") {
        return "0x8035";
    }
    return hex(toNumber(protocol), 4);
}

unsigned long arpOpcode(std::string_view opcode) {
    static constexpr std::array<std::pair<std::string_view, unsigned long>, 9> kOpcodes{{
        {"Request", 1},
        {"Reply", 2},
        {"Request_Reverse", 3},
        {"Reply_Reverse", 4},
        {"DRARP_Request", 5},
        {"DRARP_Reply", 6},
        {"DRARP_Error", 7},
        {"InARP_Request", 8},
        {"ARP_NAK", 10},
    }};
    for (const auto& [name, value] : kOpcodes) {
        if (name == opcode) {
            return value;
        }
    }
    return toNumber(opcode);
}

std::string tcpFlagSet(std::string_view words) {
    if (words == "NONE") {
        return "0x0";
    }
    if (words == "ALL") {
        words = "FIN,SYN,RST,PSH,ACK,URG";
    }
    std::string out;
    while (!words.empty()) {
        size_t comma = words.find(',');
        std::string word(words.substr(0, comma));
        for (auto& c : word) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out += (out.empty() ? "" : " | ") + word;
        words = comma == std::string_view::npos ? std::string_view() : words.substr(comma + 1);
    }
    return "(" + out + ")";
}

// Builds one rule's match from its attributes.
class MatchWriter {
public:
    MatchWriter(std::string_view protocol, const std::vector<Attribute>& attributes)
        : m_protocol(protocol)
        , m_attributes(attributes) {}

    std::optional<std::string> get(std::string_view name) const {
        for (const auto& a : m_attributes) {
            if (a.name == name) {
                return a.value;
            }
        }
        return std::nullopt;
    }

    void add(const std::string& expression) { m_out += (m_out.empty() ? "" : " ") + expression; }

    void macField(const char* attribute, const char* mask, const std::string& field) {
        auto value = get(attribute);
        if (!value) {
            return;
        }
        auto m = get(mask);
        if (!m) {
            add(field + " " + *value);
            return;
        }
        unsigned long bits = macBits(*m);
        add(field + " & " + *m + " == " + formatMac(macBits(*value) & bits));
    }

    static std::string formatMac(unsigned long bits) {
        std::array<char, 18> buffer{};
        std::snprintf(buffer.data(), buffer.size(), "%02lx:%02lx:%02lx:%02lx:%02lx:%02lx",
                      (bits >> 40) & 0xff, (bits >> 32) & 0xff, (bits >> 24) & 0xff,
                      (bits >> 16) & 0xff, (bits >> 8) & 0xff, bits & 0xff);
        return buffer.data();
    }

    Result<void> ipField(int family, const char* attribute, const char* mask,
                         const std::string& field) {
        auto value = get(attribute);
        if (!value) {
            return success();
        }
        auto m = get(mask);
        if (!m) {
            add(field + " " + *value);
            return success();
        }
        auto prefix = prefixLength(family, *m);
        if (!prefix) {
            return prefix.takeError();
        }
        add(field + " " + *value + "/" + std::to_string(prefix.value()));
        return success();
    }

    void range(const char* from, const char* to, const std::string& field) {
        auto start = get(from);
        if (!start) {
            return;
        }
        auto end = get(to);
        add(field + " " + *start + (end && *end != *start ? "-" + *end : ""));
    }

    // ARP and RARP share a header; matched as raw fields of it (offsets in bits), so one
    // form serves both ethertypes.
    void arpRawField(const char* attribute, int offset, int bits, const char* mask = nullptr) {
        auto value = get(attribute);
        if (!value) {
            return;
        }
        std::string field = "@nh," + std::to_string(offset) + "," + std::to_string(bits);
        if (bits == 48) {
            add(field + " " + hex(macBits(*value), 12));
        } else if (bits == 32) {
            uint32_t address = ipv4Bits(*value);
            auto m = mask != nullptr ? get(mask) : std::nullopt;
            if (m) {
                auto prefix = prefixLength(AF_INET, *m);
                uint32_t maskBits = prefix && prefix.value() > 0
                                        ? ~uint32_t{0} << (32 - std::min(prefix.value(), 32))
                                        : 0;
                add(field + " & " + hex(maskBits, 8) + " == " + hex(address & maskBits, 8));
            } else {
                add(field + " " + hex(address, 8));
            }
        } else {
            add(field + " " +
                std::to_string(attribute == std::string_view("opcode") ? arpOpcode(*value)
                                                                       : toNumber(*value)));
        }
    }

    Result<void> refuse(std::initializer_list<const char*> names) const {
        for (const char* name : names) {
            if (get(name)) {
                return unsupported(name, m_protocol);
            }
        }
        return success();
    }

    std::string take() { return std::move(m_out); }

private:
    std::string_view m_protocol;
    const std::vector<Attribute>& m_attributes;
    std::string m_out;
};

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Result<void> writeLayer2(MatchWriter& w, std::string_view protocol) {
    if (protocol == "stp") {
        for (const char* field :
             {"type", "flags", "root-priority", "root-address", "root-cost", "sender-priority",
              "sender-address", "port", "msg-age", "max-age", "hello-time", "forward-delay"}) {
            if (auto r = w.refuse({field}); !r) {
                return r;
            }
        }
        w.add("ether daddr 01:80:c2:00:00:00");
    }
    w.macField("srcmacaddr", "srcmacmask", "ether saddr");
    w.macField("dstmacaddr", "dstmacmask", "ether daddr");
    if (protocol == "mac") {
        if (auto id = w.get("protocolid")) {
            if (*id == "stp" || *id == "mac") {
                return unsupported("protocolid='" + *id + "'", protocol);
            }
            w.add("ether type " + etherType(*id));
        }
    }
    if (protocol == "vlan") {
        w.add("ether type 8021q");
        if (auto id = w.get("vlanid")) {
            w.add("vlan id " + *id);
        }
        if (auto encap = w.get("encap-protocol")) {
            w.add("vlan type " + etherType(*encap));
        }
    }
    return success();
}

Result<void> writeArp(MatchWriter& w, std::string_view protocol) {
    if (auto r = w.refuse({"gratuitous"}); !r) {
        return r;
    }
    w.macField("srcmacaddr", "srcmacmask", "ether saddr");
    w.macField("dstmacaddr", "dstmacmask", "ether daddr");
    w.add(protocol == "arp" ? "ether type arp" : "ether type 0x8035");
    w.arpRawField("hwtype", 0, 16);
    w.arpRawField("protocoltype", 16, 16);
    w.arpRawField("opcode", 48, 16);
    w.arpRawField("arpsrcmacaddr", 64, 48);
    w.arpRawField("arpsrcipaddr", 112, 32, "arpsrcipmask");
    w.arpRawField("arpdstmacaddr", 144, 48);
    w.arpRawField("arpdstipaddr", 192, 32, "arpdstipmask");
    return success();
}

Result<void> writeLayer3(MatchWriter& w, std::string_view protocol) {
    if (auto r = w.refuse({"state", "connlimit-above", "ipset", "ipsetflags", "option"}); !r) {
        return r;
    }
    bool v6 = protocol == "ipv6" || protocol == "icmpv6" || endsWith(protocol, "-ipv6");
    int family = v6 ? AF_INET6 : AF_INET;
    std::string ip = v6 ? "ip6" : "ip";
    w.macField("srcmacaddr", "srcmacmask", "ether saddr");
    w.macField("dstmacaddr", "dstmacmask", "ether daddr");
    w.add(std::string("ether type ") + ip);
    if (auto r = w.ipField(family, "srcipaddr", "srcipmask", ip + " saddr"); !r) {
        return r;
    }
    if (auto r = w.ipField(family, "dstipaddr", "dstipmask", ip + " daddr"); !r) {
        return r;
    }
    w.range("srcipfrom", "srcipto", ip + " saddr");
    w.range("dstipfrom", "dstipto", ip + " daddr");
    if (auto dscp = w.get("dscp")) {
        w.add(ip + " dscp " + *dscp);
    }
    // The layer-4 protocol: named by the element (tcp, udp-ipv6, ...) or by the
    // attribute of <ip>/<ipv6>.
    std::string l4(protocol.substr(0, protocol.find('-')));
    if (l4 == "ip" || l4 == "ipv6") {
        l4 = w.get("protocol").value_or("");
    }
    if (l4 == "icmp" && v6) {
        l4 = "icmpv6";
    }
    if (!l4.empty() && l4 != "all") {
        w.add(ip + (v6 ? " nexthdr " : " protocol ") + l4);
    }
    w.range("srcportstart", "srcportend", "th sport");
    w.range("dstportstart", "dstportend", "th dport");
    if (auto flags = w.get("flags")) {
        size_t slash = flags->find('/');
        w.add("tcp flags & " + tcpFlagSet(flags->substr(0, slash)) +
              " == " + tcpFlagSet(flags->substr(slash + 1)));
    }
    if (l4 == "icmp" || l4 == "icmpv6") {
        w.range("type", "typeend", l4 + " type");
        w.range("code", "codeend", l4 + " code");
    }
    return success();
}

} // namespace

Result<std::string> nftMatch(std::string_view protocol, const std::vector<Attribute>& attributes) {
    MatchWriter w(protocol, attributes);
    Result<void> written = success();
    if (protocol == "mac" || protocol == "vlan" || protocol == "stp") {
        written = writeLayer2(w, protocol);
    } else if (protocol == "arp" || protocol == "rarp") {
        written = writeArp(w, protocol);
    } else {
        written = writeLayer3(w, protocol);
    }
    if (!written) {
        return written.takeError();
    }
    return w.take();
}

std::string chainProtocolMatch(std::string_view chainProtocol) {
    if (chainProtocol == "stp") {
        return "ether daddr 01:80:c2:00:00:00";
    }
    if (chainProtocol == "mac" || chainProtocol == "root") {
        return "";
    }
    return "ether type " + etherType(chainProtocol);
}

std::string nftVerdict(Action action) {
    switch (action) {
    case Action::Accept:
        return "accept";
    case Action::Drop:
    case Action::Reject:
        return "drop";
    case Action::Return:
        return "return";
    case Action::Continue:
        return "continue";
    }
    return "drop";
}

} // namespace virtswarm::nwfilter
