// SPDX-License-Identifier: LGPL-2.1-or-later
// CONNECT_OPEN's URIs: the QEMU driver of the bridge's own mode, nothing else.
#include "connect_uri.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::bridge;

TEST(ConnectUri, SystemBridgeServesQemuSystem) {
    auto v = acceptConnectUri(std::string("qemu:///system"), BusMode::System);
    EXPECT_TRUE(v.accepted);
    EXPECT_EQ(v.uri, "qemu:///system");
    EXPECT_TRUE(acceptConnectUri(std::string("qemu:///system/"), BusMode::System).accepted);
    EXPECT_TRUE(acceptConnectUri(std::string("qemu://localhost/system"), BusMode::System).accepted);
}

TEST(ConnectUri, NoNameIsTheDefault) {
    EXPECT_EQ(acceptConnectUri(std::nullopt, BusMode::System).uri, "qemu:///system");
    EXPECT_EQ(acceptConnectUri(std::string(""), BusMode::Session).uri, "qemu:///session");
}

TEST(ConnectUri, OtherDriversAreRefused) {
    for (const char* uri : {"lxc:///system", "xen:///", "bhyve:///system", "vbox:///session",
                            "uml:///system", "vz:///system", "test:///default", "qemu",
                            "qemu://otherhost/system", "qemu:///embed?root=/tmp"}) {
        auto v = acceptConnectUri(std::string(uri), BusMode::System);
        EXPECT_FALSE(v.accepted) << uri;
        EXPECT_NE(v.refusal.find(uri), std::string::npos) << v.refusal;
    }
}

TEST(ConnectUri, EachModeServesItsOwnQemuUri) {
    // Root's qemu:///session is root's own session swarm, never the system's domains.
    EXPECT_FALSE(acceptConnectUri(std::string("qemu:///session"), BusMode::System).accepted);
    EXPECT_FALSE(acceptConnectUri(std::string("qemu:///system"), BusMode::Session).accepted);
    EXPECT_TRUE(acceptConnectUri(std::string("qemu:///session"), BusMode::Session).accepted);
}
