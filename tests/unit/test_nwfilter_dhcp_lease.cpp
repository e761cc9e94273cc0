// SPDX-License-Identifier: LGPL-2.1-or-later
// CTRL_IP_LEARNING=dhcp: what the DHCPACK parser takes from a packet, and everything a
// hostile segment can send it that must teach nothing.
#include "dhcp_lease.hpp"

#include <gtest/gtest.h>
#include <vector>

using namespace virtswarm::nwfilter;

namespace {

const MacBytes kMac = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

// An IPv4/UDP 67->68 packet from 10.0.0.1 with a BOOTREPLY for kMac leasing 10.0.0.7, with
// `options` after the magic cookie.
std::vector<uint8_t> reply(std::vector<uint8_t> options) {
    std::vector<uint8_t> bootp(236, 0);
    bootp[0] = 2;
    bootp[1] = 1;
    bootp[2] = 6;
    const uint8_t yiaddr[4] = {10, 0, 0, 7};
    std::copy(yiaddr, yiaddr + 4, bootp.begin() + 16);
    const uint8_t chaddr[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
    std::copy(chaddr, chaddr + 6, bootp.begin() + 28);
    bootp.insert(bootp.end(), {99, 130, 83, 99});
    bootp.insert(bootp.end(), options.begin(), options.end());
    size_t udpLength = 8 + bootp.size(), total = 20 + udpLength;
    std::vector<uint8_t> packet = {0x45,
                                   0,
                                   uint8_t(total >> 8),
                                   uint8_t(total),
                                   0,
                                   1,
                                   0,
                                   0,
                                   64,
                                   17,
                                   0,
                                   0,
                                   10,
                                   0,
                                   0,
                                   1,
                                   255,
                                   255,
                                   255,
                                   255};
    packet.insert(packet.end(), {0, 67, 0, 68, uint8_t(udpLength >> 8), uint8_t(udpLength), 0, 0});
    packet.insert(packet.end(), bootp.begin(), bootp.end());
    return packet;
}

const std::vector<uint8_t> kAckOptions = {53, 1,  5, 54, 4, 10,   0,    0,
                                          2,  51, 4, 0,  0, 0x0e, 0x10, 255};

} // namespace

TEST(NWFilterDhcpLease, AckGivesAddressServerAndLeaseTime) {
    auto packet = reply(kAckOptions);
    auto lease = parseDhcpAck(packet.data(), packet.size(), kMac);
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->address, "10.0.0.7");
    EXPECT_EQ(lease->server, "10.0.0.2"); // option 54 wins over the source address
    EXPECT_EQ(lease->seconds, 3600u);
}

TEST(NWFilterDhcpLease, OtherMessagesAndClientsTeachNothing) {
    auto offer = reply({53, 1, 2, 51, 4, 0, 0, 0x0e, 0x10, 255});
    EXPECT_FALSE(parseDhcpAck(offer.data(), offer.size(), kMac));
    auto noLeaseTime = reply({53, 1, 5, 255});
    EXPECT_FALSE(parseDhcpAck(noLeaseTime.data(), noLeaseTime.size(), kMac));
    auto ack = reply(kAckOptions);
    EXPECT_FALSE(
        parseDhcpAck(ack.data(), ack.size(), MacBytes{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcd}));
    auto request = ack;
    request[28] = 1; // op BOOTREQUEST
    EXPECT_FALSE(parseDhcpAck(request.data(), request.size(), kMac));
}

TEST(NWFilterDhcpLease, TruncatedAndMalformedPacketsAreIgnored) {
    auto ack = reply(kAckOptions);
    for (size_t cut : {size_t{0}, size_t{19}, size_t{27}, size_t{200}, ack.size() - 1}) {
        EXPECT_FALSE(parseDhcpAck(ack.data(), cut, kMac)) << cut;
    }
    auto overrun = reply({53, 1, 5, 51, 200, 0, 0});
    EXPECT_FALSE(parseDhcpAck(overrun.data(), overrun.size(), kMac));
    auto fragment = ack;
    fragment[7] = 1; // a non-first fragment
    EXPECT_FALSE(parseDhcpAck(fragment.data(), fragment.size(), kMac));
}
