// SPDX-License-Identifier: LGPL-2.1-or-later
// Filter XML to nftables rules: the parser's checks, reference loops, the expansion of
// references and variables, rule order, and what reaches nft for hostile values.
#include "filter_graph.hpp"
#include "nft_table.hpp"
#include "port_rules.hpp"
#include "standard_filters.hpp"

#include <gtest/gtest.h>
#include <map>

using namespace virtswarm;
using namespace virtswarm::nwfilter;

namespace {

// Every standard filter, plus the ones a test adds, by name.
struct Filters {
    std::map<std::string, FilterDef> byName;
    Filters() {
        for (const auto& s : standardFilters()) {
            auto parsed = parseFilterXml(s.xml);
            EXPECT_TRUE(parsed) << s.name << ": " << parsed.error().message();
            byName.emplace(std::string(s.name), parsed.value().def);
        }
    }
    void add(const std::string& xml) {
        auto parsed = parseFilterXml(xml);
        ASSERT_TRUE(parsed) << parsed.error().message();
        byName.insert_or_assign(parsed.value().def.name, parsed.value().def);
    }
    FilterLookup lookup() const {
        return [this](const std::string& name) -> const FilterDef* {
            auto it = byName.find(name);
            return it == byName.end() ? nullptr : &it->second;
        };
    }
};

BindingDef binding(const std::string& filter, Parameters parameters) {
    BindingDef b;
    b.portDev = "vnet7";
    b.mac = "52:54:00:aa:bb:cc";
    b.filter = FilterRef{filter, std::move(parameters)};
    return b;
}

const PortChain* chain(const PortRules& rules, const std::string& name) {
    for (const auto& c : rules.chains) {
        if (c.name == name) {
            return &c;
        }
    }
    return nullptr;
}

} // namespace

TEST(NWFilterRules, StandardFiltersParseAndReferenceOnlyEachOther) {
    Filters f;
    for (const auto& [name, def] : f.byName) {
        EXPECT_TRUE(checkReferences(def, f.lookup())) << name;
    }
}

TEST(NWFilterRules, LoopsAndUnknownReferencesAreNamedErrors) {
    Filters f;
    f.add("<filter name='a'><filterref filter='b'/></filter>");
    f.add("<filter name='b'><filterref filter='clean-traffic'/></filter>");
    auto loop = parseFilterXml("<filter name='clean-traffic'><filterref filter='a'/></filter>");
    ASSERT_TRUE(loop);
    EXPECT_EQ(checkReferences(loop.value().def, f.lookup()).error().code(), Code::NWFilterLoop);
    auto unknown = parseFilterXml("<filter name='c'><filterref filter='zzz'/></filter>");
    EXPECT_EQ(checkReferences(unknown.value().def, f.lookup()).error().code(),
              Code::NoSuchNWFilter);
}

TEST(NWFilterRules, CleanTrafficCompilesToOrderedChains) {
    Filters f;
    auto rules = compilePort(binding("clean-traffic", {{"IP", "10.1.2.3"}}), f.lookup());
    ASSERT_TRUE(rules) << rules.error().message();
    ASSERT_GE(rules.value().chains.size(), 2u);
    EXPECT_EQ(rules.value().chains[0].name, "vnet7-out");
    EXPECT_EQ(rules.value().chains[1].name, "vnet7-in");
    const auto& out = rules.value().chains[0].rules;
    // mac (-800) before ipv4-ip (-710) before the IPv4 accept (-650) ... drop last (1000).
    ASSERT_GE(out.size(), 4u);
    EXPECT_EQ(out.front(), "jump vnet7-out-0");
    EXPECT_EQ(out.back(), "drop");
    const PortChain* mac = chain(rules.value(), "vnet7-out-0");
    ASSERT_NE(mac, nullptr);
    EXPECT_EQ(mac->comment, "mac");
    EXPECT_EQ(mac->rules,
              (std::vector<std::string>{"ether saddr 52:54:00:aa:bb:cc return", "drop"}));
    // The ARP sub-chains run before the root chain's ARP accept at the same priority.
    auto arpJump = std::find_if(out.begin(), out.end(), [](const std::string& r) {
        return r.find("arp jump") != std::string::npos;
    });
    auto arpAccept = std::find(out.begin(), out.end(), "ether type arp accept");
    ASSERT_NE(arpJump, out.end());
    ASSERT_NE(arpAccept, out.end());
    EXPECT_LT(arpJump, arpAccept);
}

TEST(NWFilterRules, ListVariablesMakeOneRulePerValue) {
    Filters f;
    auto rules = compilePort(binding("no-ip-spoofing", {{"IP", "10.0.0.1"}, {"IP", "10.0.0.2"}}),
                             f.lookup());
    ASSERT_TRUE(rules) << rules.error().message();
    const PortChain* ip = chain(rules.value(), "vnet7-out-0");
    ASSERT_NE(ip, nullptr);
    EXPECT_EQ(ip->rules,
              (std::vector<std::string>{"ether type ip ip saddr 0.0.0.0 ip protocol udp return",
                                        "ether type ip ip saddr 10.0.0.1 return",
                                        "ether type ip ip saddr 10.0.0.2 return", "drop"}));
}

TEST(NWFilterRules, MissingAndHostileValuesNeverReachNft) {
    Filters f;
    EXPECT_EQ(compilePort(binding("allow-dhcp-server", {}), f.lookup()).error().code(),
              Code::InvalidArgs); // no DHCPSERVER
    for (const char* hostile : {"10.0.0.1 accept", "10.0.0.1\nflush ruleset", "$IP", ""}) {
        auto r = compilePort(binding("clean-traffic", {{"IP", hostile}}), f.lookup());
        EXPECT_FALSE(r) << hostile;
    }
    EXPECT_EQ(compilePort(binding("nope", {}), f.lookup()).error().code(), Code::NoSuchNWFilter);
}

TEST(NWFilterRules, LearningPortsLeaveOutRulesOfAnUnknownIp) {
    Filters f;
    auto learning = binding("no-ip-spoofing", {{"CTRL_IP_LEARNING", "dhcp"}});
    auto before = compilePort(learning, f.lookup());
    ASSERT_TRUE(before) << before.error().message();
    const PortChain* ip = chain(before.value(), "vnet7-out-0");
    ASSERT_NE(ip, nullptr);
    // Until the address is learned, only DHCP from 0.0.0.0 leaves the guest.
    EXPECT_EQ(ip->rules, (std::vector<std::string>{
                             "ether type ip ip saddr 0.0.0.0 ip protocol udp return", "drop"}));
    auto after = compilePort(learning, f.lookup(), {"10.0.0.7"});
    ASSERT_TRUE(after) << after.error().message();
    EXPECT_EQ(chain(after.value(), "vnet7-out-0")->rules,
              (std::vector<std::string>{"ether type ip ip saddr 0.0.0.0 ip protocol udp return",
                                        "ether type ip ip saddr 10.0.0.7 return", "drop"}));
    EXPECT_TRUE(compilePort(binding("clean-traffic", {{"CTRL_IP_LEARNING", "none"}}), f.lookup()));
    EXPECT_EQ(compilePort(binding("clean-traffic", {{"CTRL_IP_LEARNING", "sometimes"}}), f.lookup())
                  .error()
                  .code(),
              Code::InvalidArgs);
    // `any`, given or by default, compiles as `dhcp` does: no rule of $IP until learned.
    for (const auto& any : {binding("no-ip-spoofing", {{"CTRL_IP_LEARNING", "any"}}),
                            binding("no-ip-spoofing", {})}) {
        EXPECT_EQ(ipLearning(any).value(), IpLearning::Any);
        auto unknown = compilePort(any, f.lookup());
        ASSERT_TRUE(unknown) << unknown.error().message();
        EXPECT_EQ(chain(unknown.value(), "vnet7-out-0")->rules, ip->rules);
        auto learned = compilePort(any, f.lookup(), {"10.0.0.7"});
        ASSERT_TRUE(learned) << learned.error().message();
        EXPECT_EQ(chain(learned.value(), "vnet7-out-0")->rules,
                  chain(after.value(), "vnet7-out-0")->rules);
    }
    // A binding that gives IP learns nothing.
    EXPECT_FALSE(ipLearning(binding("clean-traffic", {{"IP", "10.0.0.1"}})).value());
}

TEST(NWFilterRules, OnlyPortsWhoseRulesUseALearnedIpNeedALearner) {
    Filters f;
    EXPECT_TRUE(compilePort(binding("clean-traffic", {}), f.lookup()).value().learnsIp);
    EXPECT_TRUE(compilePort(binding("clean-traffic", {{"CTRL_IP_LEARNING", "dhcp"}}), f.lookup())
                    .value()
                    .learnsIp);
    EXPECT_FALSE(compilePort(binding("clean-traffic", {{"CTRL_IP_LEARNING", "none"}}), f.lookup())
                     .value()
                     .learnsIp);
    EXPECT_FALSE(
        compilePort(binding("clean-traffic", {{"IP", "10.0.0.1"}}), f.lookup()).value().learnsIp);
    EXPECT_FALSE(compilePort(binding("no-mac-spoofing", {}), f.lookup()).value().learnsIp);
}

TEST(NWFilterRules, ProtocolElementsCompile) {
    Filters f;
    f.add("<filter name='t' chain='root'>"
          "<rule action='accept' direction='in' priority='1'>"
          "<tcp srcipaddr='192.168.0.0' srcipmask='255.255.0.0' dstportstart='80' "
          "dstportend='90' flags='SYN,ACK/SYN'/></rule>"
          "<rule action='reject' direction='out' priority='2'><icmpv6 type='128'/></rule>"
          "<rule action='return' direction='out' priority='3'>"
          "<arp opcode='Reply' arpsrcipaddr='10.0.0.0' arpsrcipmask='8'/></rule>"
          "<rule action='drop' direction='out' priority='4'>"
          "<vlan vlanid='42' encap-protocol='arp'/></rule>"
          "</filter>");
    auto rules = compilePort(binding("t", {}), f.lookup());
    ASSERT_TRUE(rules) << rules.error().message();
    EXPECT_EQ(rules.value().chains[1].rules,
              (std::vector<std::string>{"ether type ip ip saddr 192.168.0.0/16 ip protocol tcp "
                                        "th dport 80-90 tcp flags & (syn | ack) == (syn) accept"}));
    EXPECT_EQ(rules.value().chains[0].rules,
              (std::vector<std::string>{
                  "ether type ip6 ip6 nexthdr icmpv6 icmpv6 type 128 drop",
                  "ether type arp @nh,48,16 2 @nh,112,32 & 0xff000000 == 0x0a000000 return",
                  "ether type 8021q vlan id 42 vlan type arp drop"}));
}

TEST(NWFilterRules, UpdateTransactionFlushesBeforeItRefillsOrDeletes) {
    Filters f;
    auto rules = compilePort(binding("allow-arp", {}), f.lookup());
    ASSERT_TRUE(rules);
    std::string t = updateTransaction(
        {PortChange{"vnet7", {"vnet7-out", "vnet7-in", "vnet7-out-3"}, &rules.value()}});
    size_t flush = t.find("flush chain bridge virtswarm-nwfilter vnet7-out-3");
    size_t add = t.find("add rule");
    size_t remove = t.find("delete chain bridge virtswarm-nwfilter vnet7-out-3");
    ASSERT_NE(flush, std::string::npos);
    ASSERT_NE(remove, std::string::npos);
    EXPECT_LT(flush, add);
    EXPECT_LT(add, remove);
    std::string gone = updateTransaction({PortChange{"vnet7", {"vnet7-out", "vnet7-in"}, nullptr}});
    EXPECT_NE(gone.find("delete element bridge virtswarm-nwfilter from_guest { \"vnet7\" }"),
              std::string::npos);
}
