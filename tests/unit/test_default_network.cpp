// SPDX-License-Identifier: LGPL-2.1-or-later
#include "default_network.hpp"
#include "virtswarm/network_def.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::network;

namespace {

IpDef subnet(const std::string& address, unsigned prefix) {
    IpDef ip;
    ip.address = address;
    ip.prefix = prefix;
    return ip;
}

} // namespace

TEST(DefaultNetwork, ProvisionedOnTheSystemBusUnlessSwitchedOff) {
    EXPECT_TRUE(defaultNetworkWanted(BusMode::System, nullptr).value());
    EXPECT_TRUE(defaultNetworkWanted(BusMode::System, "").value());
    EXPECT_TRUE(defaultNetworkWanted(BusMode::System, "yes").value());
    EXPECT_FALSE(defaultNetworkWanted(BusMode::System, "no").value());
}

TEST(DefaultNetwork, NeverOnASessionBus) {
    EXPECT_FALSE(defaultNetworkWanted(BusMode::Session, nullptr).value());
    EXPECT_FALSE(defaultNetworkWanted(BusMode::Session, "yes").value());
}

TEST(DefaultNetwork, AnyOtherSwitchValueIsANamedError) {
    auto r = defaultNetworkWanted(BusMode::System, "off");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidArgs);
    EXPECT_NE(r.error().message().find("VIRTSWARM_DEFAULT_NETWORK='off'"), std::string::npos);
}

TEST(DefaultNetwork, PicksLibvirtsSubnetOnAFreeHost) {
    EXPECT_EQ(pickDefaultSubnet({}), 122u);
    // Other private ranges and a default route's absence change nothing.
    EXPECT_EQ(pickDefaultSubnet({subnet("10.0.0.0", 8), subnet("192.168.1.0", 24)}), 122u);
}

TEST(DefaultNetwork, SkipsSubnetsTheHostAlreadyReaches) {
    EXPECT_EQ(pickDefaultSubnet({subnet("192.168.122.0", 24)}), 123u);
    // An address inside the subnet is enough, and a wider route covers several.
    EXPECT_EQ(pickDefaultSubnet({subnet("192.168.122.7", 32), subnet("192.168.123.1", 24)}), 124u);
    EXPECT_EQ(pickDefaultSubnet({subnet("192.168.120.0", 22), subnet("192.168.124.0", 23)}), 126u);
}

TEST(DefaultNetwork, NoneWhenEverySubnetIsTaken) {
    EXPECT_EQ(pickDefaultSubnet({subnet("192.168.0.0", 16)}), std::nullopt);
    EXPECT_EQ(pickDefaultSubnet({subnet("192.168.122.0", 24), subnet("192.168.123.0", 24),
                                 subnet("192.168.124.0", 22), subnet("192.168.128.0", 17)}),
              std::nullopt);
}

TEST(DefaultNetwork, DefinitionIsLibvirtsDefaultOnTheChosenSubnet) {
    auto parsed = parseNetworkXml(defaultNetworkXml(123));
    ASSERT_TRUE(parsed) << parsed.error().message();
    const NetworkDef& d = parsed.value().def;
    EXPECT_EQ(d.name, "default");
    EXPECT_EQ(d.forwardMode, "nat");
    EXPECT_TRUE(d.bridge.empty()); // allocated by the registry (vsbrN)
    ASSERT_EQ(d.ips.size(), 1u);
    EXPECT_EQ(d.ips[0].address, "192.168.123.1");
    EXPECT_EQ(d.ips[0].prefix, 24u);
    ASSERT_EQ(d.ips[0].ranges.size(), 1u);
    EXPECT_EQ(d.ips[0].ranges[0].start, "192.168.123.2");
    EXPECT_EQ(d.ips[0].ranges[0].end, "192.168.123.254");
}
