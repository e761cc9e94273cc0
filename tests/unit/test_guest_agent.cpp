// SPDX-License-Identifier: LGPL-2.1-or-later
// What the shim accepts from the guest agent: the guest is not trusted, so every reply
// is checked, and what it sends the agent is checked as libvirt checks it.
#include "virtswarm/guest_agent.hpp"

#include <cstdint>
#include <gtest/gtest.h>

using namespace virtswarm;

TEST(GuestAgent, InterfaceListFromTheAgent) {
    auto reply = nlohmann::json::parse(R"([
        {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
            {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}]},
        {"name": "eth0", "hardware-address": "52:54:00:12:34:56", "ip-addresses": [
            {"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24},
            {"ip-address-type": "ipv6", "ip-address": "fe80::1", "prefix": 64}]},
        {"name": "dummy0"}])");
    auto parsed = parseGuestInterfaces(reply);
    ASSERT_TRUE(parsed) << parsed.error().message();
    ASSERT_EQ(parsed.value().size(), 3u);
    EXPECT_EQ(parsed.value()[1].hardwareAddress, "52:54:00:12:34:56");
    ASSERT_EQ(parsed.value()[1].addresses.size(), 2u);
    EXPECT_EQ(parsed.value()[1].addresses[1].type, "ipv6");
    EXPECT_EQ(parsed.value()[1].addresses[0].prefix, 24u);
    EXPECT_TRUE(parsed.value()[2].addresses.empty());
    // The guest is not trusted: anything else is a clean error.
    for (const char* bad : {R"({"name": "eth0"})", R"([{"hardware-address": "x"}])",
                            R"([{"name": "e", "ip-addresses": [{"ip-address-type": "ipx",
                                 "ip-address": "1", "prefix": 8}]}])",
                            R"([{"name": "e", "ip-addresses": [{"ip-address-type": "ipv4",
                                 "ip-address": "1", "prefix": -1}]}])"}) {
        auto r = parseGuestInterfaces(nlohmann::json::parse(bad));
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), Code::OperationFailed);
    }
}

TEST(GuestAgent, TimeFromTheAgentInSecondsAndNanoseconds) {
    auto parsed = parseGuestTime(nlohmann::json(int64_t{1700000000123456789}));
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed.value().seconds, 1700000000);
    EXPECT_EQ(parsed.value().nseconds, 123456789u);
    for (const char* bad : {"-1", "\"12\"", "1.5", "null", "{}"}) {
        auto r = parseGuestTime(nlohmann::json::parse(bad));
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), Code::OperationFailed);
    }
}

TEST(GuestAgent, TimeToTheAgentIsBoundedAsLibvirtBoundsIt) {
    auto ns = guestTimeArgument({2000000000, 5});
    ASSERT_TRUE(ns) << ns.error().message();
    EXPECT_EQ(ns.value(), int64_t{2000000000000000005});
    EXPECT_EQ(guestTimeArgument({0, 0}).value(), 0);

    auto tooBig = guestTimeArgument({1, 1000000000});
    ASSERT_FALSE(tooBig);
    EXPECT_EQ(tooBig.error().code(), Code::InvalidArgs);
    EXPECT_EQ(tooBig.error().message(), "nseconds too big");
    for (GuestTime bad : {GuestTime{-5, 0}, GuestTime{INT64_MAX / 1000000000 + 1, 0},
                          GuestTime{INT64_MAX / 1000000000, 999999999}}) {
        auto r = guestTimeArgument(bad);
        ASSERT_FALSE(r) << bad.seconds;
        EXPECT_EQ(r.error().code(), Code::InvalidArgs);
    }
    // The last representable second is still taken.
    EXPECT_TRUE(guestTimeArgument({INT64_MAX / 1000000000, INT64_MAX % 1000000000}));
}

TEST(GuestAgent, HostnameFromTheAgent) {
    auto parsed = parseGuestHostname(nlohmann::json::parse(R"({"host-name": "guest-1"})"));
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed.value(), "guest-1");
    std::string tooLong = R"({"host-name": ")" + std::string(256, 'a') + R"("})";
    for (const std::string& bad :
         {std::string(R"({"host-name": ""})"), std::string(R"({"host-name": 7})"),
          std::string(R"({"host-name": "a\nb"})"), std::string(R"(["guest"])"), tooLong}) {
        auto r = parseGuestHostname(nlohmann::json::parse(bad));
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), Code::OperationFailed);
    }
}
