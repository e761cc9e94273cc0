// SPDX-License-Identifier: LGPL-2.1-or-later
#include "dnsmasq.hpp"
#include "firewall.hpp"
#include "virtswarm/network_def.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::network;

namespace {

NetworkDef parse(const std::string& xml) {
    auto r = parseNetworkXml(xml);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? r.value().def : NetworkDef{};
}

Code errorOf(const std::string& xml) {
    auto r = parseNetworkXml(xml);
    EXPECT_FALSE(r) << xml;
    return r ? Code::Internal : r.error().code();
}

} // namespace

TEST(NetworkXml, ParsesLibvirtsDefaultNetwork) {
    auto d = parse("<network><name>default</name>"
                   "<uuid>9a05da11-e96b-47f3-8253-a3a482e445f5</uuid>"
                   "<forward mode='nat'/><bridge name='virbr0' stp='on' delay='0'/>"
                   "<mac address='52:54:00:0A:CD:21'/><domain name='lan'/>"
                   "<dns><host ip='192.168.122.2'><hostname>gw</hostname></host></dns>"
                   "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
                   "<range start='192.168.122.2' end='192.168.122.254'/>"
                   "<host mac='52:54:00:00:00:01' name='a' ip='192.168.122.10'/></dhcp></ip>"
                   "<ip family='ipv6' address='fd00::1' prefix='64'/></network>");
    EXPECT_EQ(d.name, "default");
    EXPECT_EQ(d.forwardMode, "nat");
    EXPECT_EQ(d.bridge, "virbr0");
    EXPECT_TRUE(d.stp);
    EXPECT_EQ(d.mac, "52:54:00:0a:cd:21");
    EXPECT_EQ(d.domainName, "lan");
    ASSERT_EQ(d.ips.size(), 2u);
    EXPECT_EQ(d.ips[0].prefix, 24u); // from the netmask
    ASSERT_EQ(d.ips[0].ranges.size(), 1u);
    ASSERT_EQ(d.ips[0].hosts.size(), 1u);
    EXPECT_EQ(d.ips[1].family, 6);
    ASSERT_EQ(d.dnsHosts.size(), 1u);
    EXPECT_EQ(d.dnsHosts[0].hostnames, std::vector<std::string>{"gw"});
    EXPECT_TRUE(d.runsDnsmasq());
}

TEST(NetworkXml, GeneratesUuidAndMacButLeavesTheBridgeToTheRegistry) {
    auto r = parseNetworkXml("<network><name>n</name></network>");
    ASSERT_TRUE(r);
    EXPECT_NE(r.value().xml.find(formatUuid(r.value().def.uuid)), std::string::npos);
    EXPECT_NE(r.value().xml.find(r.value().def.mac), std::string::npos);
    EXPECT_TRUE(r.value().def.bridge.empty());
    auto named = withBridgeName(r.value(), "vsbr3");
    ASSERT_TRUE(named);
    EXPECT_EQ(named.value().def.bridge, "vsbr3");
    EXPECT_EQ(named.value().def.uuid, r.value().def.uuid);
}

TEST(NetworkXml, RejectsInconsistentDefinitions) {
    EXPECT_EQ(errorOf("<network><name>x</name"), Code::MalformedXML);
    EXPECT_EQ(errorOf("<domain/>"), Code::InvalidXML);
    EXPECT_EQ(errorOf("<network/>"), Code::MissingName);
    EXPECT_EQ(errorOf("<network><name>x</name><ip address='10.0.0.1' prefix='33'/></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><ip address='10.0.0.1' netmask='255.0.255.0'/>"
                      "</network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
                      "<range start='10.0.0.50' end='10.0.0.20'/></dhcp></ip></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
                      "<host mac='52:54:00:00:00:01' ip='10.0.9.9'/></dhcp></ip></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><ip address='10.0.0.1' prefix='16'/>"
                      "<ip address='10.0.5.1' prefix='24'/></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><forward mode='bridge'/></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><forward mode='bridge'/><bridge name='br0'/>"
                      "<ip address='10.0.0.1'/></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><bridge name='much-too-long-name0'/></network>"),
              Code::InvalidXML);
    EXPECT_EQ(errorOf("<network><name>x</name><forward mode='passthrough'/></network>"),
              Code::ConfigUnsupported);
}

TEST(NetworkXml, SubnetOverlap) {
    IpDef a{4, "10.1.0.1", 16, {}, {}};
    IpDef b{4, "10.1.200.1", 24, {}, {}};
    IpDef c{4, "10.2.0.1", 24, {}, {}};
    IpDef v6{6, "fd00::1", 64, {}, {}};
    EXPECT_TRUE(subnetsOverlap(a, b));
    EXPECT_TRUE(subnetsOverlap(b, a));
    EXPECT_FALSE(subnetsOverlap(a, c));
    EXPECT_FALSE(subnetsOverlap(a, v6));
}

TEST(Firewall, NatRoutedIsolatedOpenAndHostBridgeNetworks) {
    auto nat = parse("<network><name>a</name><forward mode='nat'/><bridge name='br-a'/>"
                     "<ip address='10.0.1.1' prefix='24'/></network>");
    auto routed = parse("<network><name>b</name><forward mode='route' dev='eth0'/>"
                        "<bridge name='br-b'/><ip address='10.0.2.1' prefix='24'/></network>");
    auto isolated = parse("<network><name>c</name><bridge name='br-c'/></network>");
    auto open = parse("<network><name>d</name><forward mode='open'/><bridge name='br-d'/>"
                      "<ip address='10.0.4.1' prefix='24'/></network>");
    auto host = parse("<network><name>e</name><forward mode='bridge'/><bridge name='br0'/>"
                      "</network>");
    std::string rules = firewallRuleset({&nat, &routed, &isolated, &open, &host});
    EXPECT_NE(rules.find("ip saddr 10.0.1.1/24 ip daddr != 10.0.1.1/24 masquerade"),
              std::string::npos);
    EXPECT_EQ(rules.find("10.0.2.1/24 ip daddr != "), std::string::npos); // routed: no NAT
    EXPECT_NE(rules.find("iifname \"br-b\" oifname \"eth0\" ip saddr 10.0.2.1/24 accept"),
              std::string::npos);
    EXPECT_NE(rules.find("oifname \"br-b\" ip daddr 10.0.2.1/24 accept"), std::string::npos);
    EXPECT_NE(rules.find("iifname \"br-c\" reject"), std::string::npos);
    EXPECT_EQ(rules.find("br-d"), std::string::npos);
    EXPECT_EQ(rules.find("br0"), std::string::npos);
    // Nothing active: no table at all, and the transaction removes it.
    EXPECT_EQ(firewallRuleset({}), "");
    EXPECT_EQ(firewallTransaction({}), "table inet virtswarm\ndelete table inet virtswarm\n");
    EXPECT_EQ(firewallRuleset({&open, &host}), "");
}

TEST(Dnsmasq, ConfigServesOnlyTheBridge) {
    auto d = parse("<network><name>n</name><bridge name='vsbr0'/><domain name='lan'/>"
                   "<ip address='10.0.1.1' prefix='24'><dhcp>"
                   "<range start='10.0.1.100' end='10.0.1.200'/>"
                   "<host mac='52:54:00:00:00:01' name='a' ip='10.0.1.10'/></dhcp></ip>"
                   "</network>");
    std::string c = Dnsmasq("/var/lib/x", d).config();
    for (const char* line :
         {"interface=vsbr0\n", "except-interface=lo\n", "bind-dynamic\n",
          "dhcp-range=10.0.1.100,10.0.1.200\n", "dhcp-host=52:54:00:00:00:01,a,10.0.1.10\n",
          "dhcp-leasefile=/var/lib/x/n.leases\n", "pid-file=/var/lib/x/n.pid\n", "domain=lan\n"}) {
        EXPECT_NE(c.find(line), std::string::npos) << line;
    }
}
