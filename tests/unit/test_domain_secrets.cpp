// SPDX-License-Identifier: LGPL-2.1-or-later
// The VNC password: parsed for the shim, hidden from readers without read-secure.
#include "virtswarm/domain_def.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

std::string withGraphics(const std::string& graphics) {
    return "<domain type='qemu'><name>d</name><memory>1024</memory><os><type>hvm</type></os>"
           "<devices>" +
           graphics + "</devices></domain>";
}

} // namespace

TEST(DomainSecrets, PasswordAndExpiryAreParsed) {
    auto r = parseDomainXml(
        withGraphics("<graphics type='vnc' passwd='pw' passwdValidTo='2040-01-02T03:04:05'/>"));
    ASSERT_TRUE(r) << r.error().message();
    const GraphicsDef& g = r.value().def.graphics.at(0);
    EXPECT_EQ(g.passwd, "pw");
    EXPECT_EQ(g.passwdValidTo, 2209086245); // date -ud 2040-01-02T03:04:05 +%s
    auto none = parseDomainXml(withGraphics("<graphics type='vnc'/>"));
    ASSERT_TRUE(none);
    EXPECT_FALSE(none.value().def.graphics.at(0).passwd);
}

TEST(DomainSecrets, BadExpiryIsInvalidXml) {
    for (const char* validTo : {"tomorrow", "2040-01-02", "2040-01-02T03:04:05Z junk"}) {
        auto r = parseDomainXml(withGraphics(std::string("<graphics type='vnc' passwd='pw' "
                                                         "passwdValidTo='") +
                                             validTo + "'/>"));
        ASSERT_FALSE(r) << validTo;
        EXPECT_EQ(r.error().code(), Code::InvalidXML) << validTo;
    }
}

TEST(DomainSecrets, WithoutSecretsDropsOnlyThePassword) {
    auto r = parseDomainXml(withGraphics("<graphics type='vnc' port='5901' autoport='no' "
                                         "passwd='s3cr3t' passwdValidTo='2040-01-02T03:04:05'/>"
                                         "<graphics type='vnc' passwd='other'/>"));
    ASSERT_TRUE(r) << r.error().message();
    std::string shown = withoutSecrets(r.value().xml);
    EXPECT_EQ(shown.find("s3cr3t"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("other"), std::string::npos) << shown;
    EXPECT_NE(shown.find("port=\"5901\""), std::string::npos) << shown;
    EXPECT_NE(shown.find("passwdValidTo"), std::string::npos) << shown;
    // Nothing to hide: the text is returned as it was.
    std::string plain = parseDomainXml(withGraphics("<graphics type='vnc'/>")).value().xml;
    EXPECT_EQ(withoutSecrets(plain), plain);
}
