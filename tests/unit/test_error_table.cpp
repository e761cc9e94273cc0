// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/error.hpp"

#include <gtest/gtest.h>
#include <set>

using namespace virtswarm;

TEST(ErrorTable, EveryCodeHasAUniqueNameAndRoundTrips) {
    std::set<std::string_view> names;
    for (int i = 0; i < kCodeCount; ++i) {
        auto code = static_cast<Code>(i);
        const auto& info = errorInfo(code);
        EXPECT_EQ(info.code, code);
        EXPECT_TRUE(names.insert(info.dbusName).second) << info.dbusName;
        EXPECT_EQ(codeFromDBusName(info.dbusName), code) << info.dbusName;
        EXPECT_GT(info.virErrorNumber, 0);
    }
}

TEST(ErrorTable, MapsToLibvirtNumbersClientsDependOn) {
    EXPECT_EQ(errorInfo(Code::NoSuchDomain).virErrorNumber, 42);
    // A duplicate name/UUID is OPERATION_FAILED in libvirt, for domains and networks.
    EXPECT_EQ(errorInfo(Code::DomainExists).virErrorNumber, 9);
    EXPECT_EQ(errorInfo(Code::NetworkExists).virErrorNumber, 9);
    EXPECT_EQ(errorInfo(Code::DeviceMissing).virErrorNumber, 99);     // VIR_ERR_DEVICE_MISSING
    EXPECT_EQ(errorInfo(Code::ConfigUnsupported).virErrorNumber, 67); // VIR_ERR_CONFIG_UNSUPPORTED
    EXPECT_EQ(errorInfo(Code::OperationUnsupported).virErrorNumber, 84); // ..._UNSUPPORTED
    EXPECT_EQ(errorInfo(Code::MissingName).virErrorNumber, 21);          // VIR_ERR_NO_NAME
    EXPECT_EQ(errorInfo(Code::MalformedXML).virErrorNumber, 35);         // VIR_ERR_XML_DETAIL
    EXPECT_EQ(errorInfo(Code::InvalidSchema).virErrorNumber, 92); // VIR_ERR_XML_INVALID_SCHEMA
    EXPECT_EQ(errorInfo(Code::InvalidState).virErrorNumber, 55);
    EXPECT_EQ(errorInfo(Code::InvalidXML).virErrorNumber, 27);
    EXPECT_EQ(errorInfo(Code::AccessDenied).virErrorNumber, 29);
    EXPECT_EQ(errorInfo(Code::NotSupported).virErrorNumber, 3);
    EXPECT_EQ(errorInfo(Code::Timeout).virErrorNumber, 68);
    EXPECT_EQ(errorInfo(Code::LimitsExceeded).virErrorNumber, 87); // VIR_ERR_RESOURCE_BUSY
    // A disk leased by another domain: VIR_ERR_RESOURCE_BUSY from VIR_FROM_LOCKING.
    EXPECT_EQ(errorInfo(Code::ResourceBusy).virErrorNumber, 87);
    EXPECT_EQ(errorInfo(Code::ResourceBusy).virErrorDomain, 42);
    EXPECT_EQ(errorInfo(Code::NoSuchNodeDevice).virErrorNumber, 53); // VIR_ERR_NO_NODE_DEVICE
    EXPECT_EQ(errorInfo(Code::NoSuchNodeDevice).virErrorDomain, 22); // VIR_FROM_NODEDEV
    EXPECT_EQ(errorInfo(Code::NoSuchNWFilter).virErrorNumber, 62);   // VIR_ERR_NO_NWFILTER
    EXPECT_EQ(errorInfo(Code::NoSuchNWFilter).virErrorDomain, 33);   // VIR_FROM_NWFILTER
    EXPECT_EQ(errorInfo(Code::NoSuchNWFilterBinding).virErrorNumber, 101);
    EXPECT_EQ(errorInfo(Code::NoDomainMetadata).virErrorNumber, 80); // VIR_ERR_NO_DOMAIN_METADATA
    EXPECT_EQ(errorInfo(Code::NoSuchSnapshot).virErrorNumber, 72);   // VIR_ERR_NO_DOMAIN_SNAPSHOT
    EXPECT_EQ(errorInfo(Code::NoSuchSnapshot).virErrorDomain, 35);   // VIR_FROM_DOMAIN_SNAPSHOT
    // VIR_ERR_ARGUMENT_UNSUPPORTED: libvirtd's "QEMU guest agent is not configured".
    EXPECT_EQ(errorInfo(Code::ArgumentUnsupported).virErrorNumber, 74);
}

TEST(ErrorTable, ForeignNamesMapToTheClosestCode) {
    EXPECT_EQ(codeFromDBusName("org.freedesktop.DBus.Error.NoReply"), Code::Timeout);
    EXPECT_EQ(codeFromDBusName("org.freedesktop.DBus.Error.ServiceUnknown"), Code::HypervisorGone);
    EXPECT_EQ(codeFromDBusName("com.example.Whatever"), Code::OperationFailed);
}

TEST(ErrorTable, SdbusErrorsRoundTrip) {
    Error e(Code::InvalidState, "domain 'x' is not running");
    sdbus::Error wire = toDBusError(e);
    EXPECT_EQ(wire.getName(), "org.virtswarm.Error.InvalidState");
    Error back = fromDBusError(wire);
    EXPECT_EQ(back.code(), Code::InvalidState);
    EXPECT_EQ(back.message(), "domain 'x' is not running");
}

TEST(Options, UnknownKeysAndWrongTypesAreInvalidArgs) {
    Options opts{{"inactive", sdbus::Variant(true)}};
    EXPECT_TRUE(checkOptions(opts, {"inactive"}));
    auto bad = checkOptions(opts, {});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), Code::InvalidArgs);
    Options wrongType{{"inactive", sdbus::Variant(std::string("yes"))}};
    auto b = boolOption(wrongType, "inactive", false);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), Code::InvalidArgs);
    EXPECT_TRUE(boolOption(opts, "inactive", false).value());
    EXPECT_FALSE(boolOption({}, "inactive", false).value());
}

TEST(PathEscaping, KeepsAlnumAndHexEscapesTheRest) {
    EXPECT_EQ(escapePathElement("abc123"), "abc123");
    EXPECT_EQ(escapePathElement("a-b/c"), "a_2db_2fc");
    EXPECT_EQ(escapePathElement(""), "_");
}
