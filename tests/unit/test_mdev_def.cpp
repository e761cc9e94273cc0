// SPDX-License-Identifier: LGPL-2.1-or-later
// libvirt's node device XML for a mediated device (virsh nodedev-create): what is taken,
// and each refusal with its code.
#include "virtswarm/mdev_def.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

constexpr const char* kUuid = "b1ae8bf6-38b0-4c81-9d44-78ce3f520496";

std::string mdevXml(const std::string& inner, const std::string& parent = "pci_0000_00_02_0") {
    return "<device>" + (parent.empty() ? "" : "<parent>" + parent + "</parent>") +
           "<capability type='mdev'>" + inner + "</capability></device>";
}

TEST(MdevRequest, ParentTypeAndUuidAreTaken) {
    auto r = parseMdevRequest(mdevXml("<type id='i915-GVTg_V5_4'/><uuid>B1AE8BF6-38B0-4C81-9D44-"
                                      "78CE3F520496</uuid>"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().parent, "pci_0000_00_02_0");
    EXPECT_EQ(r.value().type, "i915-GVTg_V5_4");
    EXPECT_EQ(r.value().uuid, kUuid); // canonical
}

TEST(MdevRequest, TheUuidIsOptional) {
    auto r = parseMdevRequest(mdevXml("<type id='nvidia-63'/>"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().uuid, "");
}

TEST(MdevRequest, EachRefusalIsNamed) {
    struct Case {
        std::string xml;
        Code code;
        const char* words;
    };
    const Case cases[] = {
        {"<device", Code::MalformedXML, ""},
        {"<domain/>", Code::InvalidXML, "expecting <device>"},
        {"<device><parent>pci_0000_00_02_0</parent><capability type='pci'/></device>",
         Code::InvalidXML, "Unsupported device type"},
        {"<device><parent>scsi_host0</parent><capability type='scsi_host'/></device>",
         Code::ConfigUnsupported, "vHBA"},
        {mdevXml("<type id='x'/>", ""), Code::InvalidXML, "<parent>"},
        {mdevXml("<type/>"), Code::InvalidXML, "type id"},
        {mdevXml("<type id='x'/><uuid>not-a-uuid</uuid>"), Code::InvalidXML, "malformed uuid"},
        {mdevXml("<type id='x'/><attr name='a' value='b'/>"), Code::ConfigUnsupported, "<attr>"},
        {"<!DOCTYPE device [<!ENTITY x 'y'>]><device/>", Code::InvalidXML, ""},
    };
    for (const auto& c : cases) {
        auto r = parseMdevRequest(c.xml);
        ASSERT_FALSE(r) << c.xml;
        EXPECT_EQ(r.error().code(), c.code) << c.xml << ": " << r.error().message();
        EXPECT_NE(r.error().message().find(c.words), std::string::npos)
            << c.xml << ": " << r.error().message();
    }
}

} // namespace
