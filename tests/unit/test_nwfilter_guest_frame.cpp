// SPDX-License-Identifier: LGPL-2.1-or-later
// CTRL_IP_LEARNING=any: what the parser of the guest's own frames takes as the address it
// uses, and everything a guest can send that must teach nothing.
#include "guest_frame.hpp"

#include <gtest/gtest.h>
#include <vector>

using namespace virtswarm::nwfilter;

namespace {

const MacBytes kMac = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
const MacBytes kOther = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcd};

std::vector<uint8_t> ethernet(const MacBytes& source, uint16_t type) {
    std::vector<uint8_t> frame(6, 0xff);
    frame.insert(frame.end(), source.begin(), source.end());
    frame.push_back(uint8_t(type >> 8));
    frame.push_back(uint8_t(type));
    return frame;
}

// An ARP packet (Ethernet/IPv4) from `source` naming `senderMac` and `sender` as its sender.
std::vector<uint8_t> arp(uint16_t opcode, std::vector<uint8_t> sender,
                         const MacBytes& source = kMac, const MacBytes& senderMac = kMac) {
    auto frame = ethernet(source, kEtherTypeArp);
    frame.insert(frame.end(), {0, 1, 8, 0, 6, 4, 0, uint8_t(opcode)});
    frame.insert(frame.end(), senderMac.begin(), senderMac.end());
    frame.insert(frame.end(), sender.begin(), sender.end());
    frame.insert(frame.end(), {0, 0, 0, 0, 0, 0, 10, 0, 0, 1});
    return frame;
}

// An IPv4/UDP packet from `source` (header length in words `ihl`, total length `total`).
std::vector<uint8_t> ipv4(std::vector<uint8_t> source, uint8_t ihl = 5, uint16_t total = 28,
                          const MacBytes& mac = kMac) {
    auto frame = ethernet(mac, kEtherTypeIpv4);
    std::vector<uint8_t> header(size_t{ihl} * 4, 0);
    header[0] = uint8_t(0x40 | ihl);
    header[2] = uint8_t(total >> 8);
    header[3] = uint8_t(total);
    header[8] = 64;
    header[9] = 17;
    if (header.size() >= 20) {
        std::copy(source.begin(), source.end(), header.begin() + 12);
        header[16] = 10;
        header[19] = 1;
    }
    frame.insert(frame.end(), header.begin(), header.end());
    frame.insert(frame.end(), {0x9c, 0x40, 0, 9, 0, 8, 0, 0});
    return frame;
}

std::optional<std::string> parse(const std::vector<uint8_t>& frame) {
    return parseGuestAddress(frame.data(), frame.size(), kMac);
}

} // namespace

TEST(NWFilterGuestFrame, ArpSenderAndIpv4SourceAreTheGuestsAddress) {
    EXPECT_EQ(parse(arp(1, {10, 0, 0, 7})), "10.0.0.7"); // a request (or gratuitous ARP)
    EXPECT_EQ(parse(arp(2, {10, 0, 0, 8})), "10.0.0.8"); // a reply
    EXPECT_EQ(parse(ipv4({10, 0, 0, 9})), "10.0.0.9");
    EXPECT_EQ(parse(ipv4({10, 0, 0, 9}, 6, 32)), "10.0.0.9"); // with an option word
    // Ethernet padding after the packet is allowed; so is a payload the capture left out.
    auto padded = ipv4({10, 0, 0, 9});
    padded.resize(60, 0);
    EXPECT_EQ(parse(padded), "10.0.0.9");
    auto headerOnly = ipv4({10, 0, 0, 9});
    headerOnly.resize(kEthernetHeader + 20);
    EXPECT_EQ(parse(headerOnly), "10.0.0.9");
}

TEST(NWFilterGuestFrame, AddressesAGuestCannotOwnTeachNothing) {
    EXPECT_FALSE(parse(arp(1, {0, 0, 0, 0})));       // an ARP probe
    EXPECT_FALSE(parse(ipv4({0, 0, 0, 0})));         // a DHCP request
    EXPECT_FALSE(parse(ipv4({255, 255, 255, 255}))); // broadcast
    EXPECT_FALSE(parse(ipv4({224, 0, 0, 251})));     // multicast
    EXPECT_FALSE(parse(arp(2, {239, 1, 2, 3})));
    EXPECT_FALSE(parse(ipv4({240, 0, 0, 1}))); // class E
    EXPECT_TRUE(guestAddressUsable(0xdfffffffu));
    EXPECT_FALSE(guestAddressUsable(0xe0000000u));
}

TEST(NWFilterGuestFrame, OtherSendersAndOtherPacketsTeachNothing) {
    EXPECT_FALSE(parse(arp(1, {10, 0, 0, 7}, kOther)));       // another source MAC
    EXPECT_FALSE(parse(arp(1, {10, 0, 0, 7}, kMac, kOther))); // another ARP sender MAC
    EXPECT_FALSE(parse(ipv4({10, 0, 0, 9}, 5, 28, kOther)));
    EXPECT_FALSE(parse(arp(3, {10, 0, 0, 7}))); // a RARP request opcode
    auto rarp = arp(1, {10, 0, 0, 7});
    rarp[13] = 0x35; // ethertype RARP
    EXPECT_FALSE(parse(rarp));
    auto tagged = ipv4({10, 0, 0, 9});
    tagged[12] = 0x81; // 802.1Q: not looked behind
    tagged[13] = 0x00;
    EXPECT_FALSE(parse(tagged));
    auto ipv6 = ipv4({10, 0, 0, 9});
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    EXPECT_FALSE(parse(ipv6));
    auto notArpOfIpv4 = arp(1, {10, 0, 0, 7});
    notArpOfIpv4[kEthernetHeader + 2] = 0x86; // protocol type
    EXPECT_FALSE(parse(notArpOfIpv4));
    auto longAddresses = arp(1, {10, 0, 0, 7});
    longAddresses[kEthernetHeader + 5] = 16; // protocol address length
    EXPECT_FALSE(parse(longAddresses));
    auto version6 = ipv4({10, 0, 0, 9});
    version6[kEthernetHeader] = 0x65;
    EXPECT_FALSE(parse(version6));
}

TEST(NWFilterGuestFrame, TruncatedFramesAndBadLengthsTeachNothing) {
    auto request = arp(1, {10, 0, 0, 7});
    for (size_t cut = 0; cut < kEthernetHeader + 28; ++cut) {
        EXPECT_FALSE(parseGuestAddress(request.data(), cut, kMac)) << cut;
    }
    auto packet = ipv4({10, 0, 0, 9});
    for (size_t cut = 0; cut < kEthernetHeader + 20; ++cut) {
        EXPECT_FALSE(parseGuestAddress(packet.data(), cut, kMac)) << cut;
    }
    // A header length under 20 bytes, one past the captured bytes, a total length under
    // the header's.
    EXPECT_FALSE(parse(ipv4({10, 0, 0, 9}, 4, 28)));
    auto cutOptions = ipv4({10, 0, 0, 9}, 15, 68);
    EXPECT_FALSE(parseGuestAddress(cutOptions.data(), kEthernetHeader + 40, kMac));
    EXPECT_FALSE(parse(ipv4({10, 0, 0, 9}, 5, 19)));
    EXPECT_FALSE(parse(ipv4({10, 0, 0, 9}, 6, 20)));
}

TEST(NWFilterGuestFrame, MacAddressesParse) {
    EXPECT_EQ(macBytes("52:54:00:aa:bb:cc"), kMac);
    EXPECT_EQ(macBytes("52:54:00:AA:BB:CD"), kOther);
    for (const char* bad :
         {"", "52:54:00:aa:bb", "52:54:00:aa:bb:cc:dd", "52-54-00-aa-bb-cc", "52:54:00:aa:bb:zz"}) {
        EXPECT_FALSE(macBytes(bad)) << bad;
    }
}
