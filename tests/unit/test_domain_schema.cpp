// SPDX-License-Identifier: LGPL-2.1-or-later
// Define's validate option: libvirt's own RelaxNG schema, as VIR_DOMAIN_DEFINE_VALIDATE.
#include "virtswarm/domain_schema.hpp"

#include <gtest/gtest.h>
#include <string>

using namespace virtswarm;

namespace {

std::string domainWith(const std::string& devices, const std::string& extra = "") {
    return "<domain type='qemu'><name>vm</name><memory unit='MiB'>128</memory>"
           "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>" +
           extra + "<devices>" + devices + "</devices></domain>";
}

} // namespace

TEST(DomainSchema, AValidDefinitionPasses) {
    auto r = validateDomainSchema(
        domainWith("<disk type='file' device='disk'><source file='/x.img'/><target dev='vda' "
                   "bus='virtio'/></disk><serial type='pty'/><console type='pty'/>"));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
}

TEST(DomainSchema, AnUnknownElementIsRefusedByName) {
    auto r = validateDomainSchema(domainWith("", "<memroy>5</memroy>"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidSchema);
    EXPECT_NE(r.error().message().find("Unable to validate doc against"), std::string::npos);
    EXPECT_NE(r.error().message().find("memroy"), std::string::npos) << r.error().message();
}

TEST(DomainSchema, AnUnknownAttributeIsRefused) {
    auto r = validateDomainSchema(domainWith("<serial type='pty' colour='red'/>"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidSchema);
}

TEST(DomainSchema, MalformedTextIsMalformedNotASchemaError) {
    auto r = validateDomainSchema("<domain type='qemu'><name>vm</name>");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::MalformedXML);
}

TEST(DomainSchema, TheInputIsBoundedBeforeParsing) {
    std::string huge =
        domainWith("", "<description>" + std::string(5 * 1024 * 1024, 'x') + "</description>");
    auto r = validateDomainSchema(huge);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidXML);
    EXPECT_NE(r.error().message().find("exceeds"), std::string::npos);
}

TEST(DomainSchema, AMissingSchemaIsAnInternalErrorNotAPass) {
    auto r = validateDomainSchema(domainWith(""), "/nonexistent/domain.rng");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::Internal);
}
