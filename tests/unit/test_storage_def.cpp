// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/storage_def.hpp"
#include "virtswarm/xml.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::storage;

TEST(StoragePoolXml, DirPoolKeepsItsUuidAndTarget) {
    auto p = parsePoolXml("<pool type='dir'><name>images</name>"
                          "<uuid>11111111-2222-3333-4444-555555555555</uuid>"
                          "<target><path>/var/lib/virtswarm/images/</path></target></pool>");
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p.value().def.name, "images");
    EXPECT_EQ(p.value().def.type, PoolType::Dir);
    EXPECT_EQ(p.value().def.targetPath, "/var/lib/virtswarm/images");
    EXPECT_EQ(formatUuid(p.value().def.uuid), "11111111-2222-3333-4444-555555555555");
}

TEST(StoragePoolXml, AMissingUuidIsGeneratedIntoTheXml) {
    auto p = parsePoolXml("<pool type='dir'><name>a</name><target><path>/srv/a</path></target>"
                          "</pool>");
    ASSERT_TRUE(p);
    auto again = parsePoolXml(p.value().xml);
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value().def.uuid, p.value().def.uuid);
}

TEST(StoragePoolXml, FsAndLogicalPoolsReadTheirSource) {
    auto fsPool = parsePoolXml("<pool type='fs'><name>f</name><source><device path='/dev/vdb'/>"
                               "<format type='xfs'/></source><target><path>/mnt/f</path>"
                               "</target></pool>");
    ASSERT_TRUE(fsPool) << fsPool.error().message();
    EXPECT_EQ(fsPool.value().def.sourceDevices, std::vector<std::string>{"/dev/vdb"});
    EXPECT_EQ(fsPool.value().def.sourceFormat, "xfs");

    auto lvm = parsePoolXml("<pool type='logical'><name>vg0</name><source>"
                            "<device path='/dev/loop1'/><device path='/dev/loop2'/></source>"
                            "</pool>");
    ASSERT_TRUE(lvm) << lvm.error().message();
    EXPECT_EQ(lvm.value().def.sourceName, "vg0");
    EXPECT_EQ(lvm.value().def.targetPath, "/dev/vg0");
    EXPECT_EQ(lvm.value().def.sourceDevices.size(), 2u);
}

TEST(StoragePoolXml, BadInputIsANamedError) {
    struct Case {
        const char* xml;
        Code code;
    };
    const Case cases[] = {
        {"<pool type='dir'><name>a</name>", Code::MalformedXML},
        {"<network/>", Code::InvalidXML},
        {"<pool type='iscsi'><name>a</name></pool>", Code::NotSupported},
        {"<pool><name>a</name></pool>", Code::InvalidXML},
        {"<pool type='dir'><name>a</name></pool>", Code::InvalidXML},
        {"<pool type='dir'><name>../a</name><target><path>/a</path></target></pool>",
         Code::InvalidXML},
        {"<pool type='dir'><name>a</name><target><path>rel/a</path></target></pool>",
         Code::InvalidXML},
        {"<pool type='dir'><name>a</name><target><path>/a/../etc</path></target></pool>",
         Code::InvalidXML},
        {"<pool type='dir'><name>a</name><target><path>/</path></target></pool>", Code::InvalidXML},
        {"<pool type='fs'><name>a</name><target><path>/a</path></target></pool>", Code::InvalidXML},
        {"<pool type='fs'><name>a</name><source><device path='/d'/><format type='ntfs'/>"
         "</source><target><path>/a</path></target></pool>",
         Code::NotSupported},
        {"<pool type='logical'><name>a</name><target><path>/dev/b</path></target></pool>",
         Code::InvalidXML},
    };
    for (const auto& c : cases) {
        auto p = parsePoolXml(c.xml);
        ASSERT_FALSE(p) << c.xml;
        EXPECT_EQ(p.error().code(), c.code) << c.xml << ": " << p.error().message();
    }
}

TEST(StoragePoolXml, SizesGoAfterTheUuid) {
    auto p = parsePoolXml("<pool type='dir'><name>a</name><uuid>"
                          "11111111-2222-3333-4444-555555555555</uuid><capacity>1</capacity>"
                          "<target><path>/a</path></target></pool>");
    ASSERT_TRUE(p);
    auto xml = poolXmlWithSizes(p.value().xml, {100, 40, 60});
    ASSERT_TRUE(xml);
    EXPECT_NE(xml.value().find("</uuid><capacity unit=\"bytes\">100</capacity>"
                               "<allocation unit=\"bytes\">40</allocation>"
                               "<available unit=\"bytes\">60</available>"),
              std::string::npos)
        << xml.value();
}

TEST(StorageVolumeXml, ScaledSizesFollowLibvirt) {
    EXPECT_EQ(scaledSize("5", "").value(), 5u);
    EXPECT_EQ(scaledSize("2", "KB").value(), 2000u);
    EXPECT_EQ(scaledSize("2", "KiB").value(), 2048u);
    EXPECT_EQ(scaledSize("1", "G").value(), 1073741824u);
    EXPECT_EQ(scaledSize("3", "bytes").value(), 3u);
    EXPECT_EQ(scaledSize("20000000", "EiB").error().code(), Code::InvalidXML);
    EXPECT_EQ(scaledSize("-1", "").error().code(), Code::InvalidXML);
    EXPECT_EQ(scaledSize("1", "furlong").error().code(), Code::InvalidXML);
}

TEST(StorageVolumeXml, Qcow2WithABackingStore) {
    auto v = parseVolumeXml("<volume><name>disk.qcow2</name><capacity unit='G'>8</capacity>"
                            "<target><format type='qcow2'/></target><backingStore>"
                            "<path>/var/lib/base.img</path><format type='raw'/></backingStore>"
                            "</volume>");
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v.value().capacity, 8ull << 30);
    EXPECT_EQ(v.value().format, VolumeFormat::Qcow2);
    EXPECT_FALSE(v.value().allocation);
    EXPECT_EQ(v.value().backingPath, "/var/lib/base.img");
    EXPECT_EQ(v.value().backingFormat, VolumeFormat::Raw);
}

TEST(StorageVolumeXml, BadVolumesAreNamedErrors) {
    struct Case {
        const char* xml;
        Code code;
    };
    const Case cases[] = {
        {"<volume><name>../escape</name><capacity>1</capacity></volume>", Code::InvalidXML},
        {"<volume><name>a/b</name><capacity>1</capacity></volume>", Code::InvalidXML},
        {"<volume><name>.hidden</name><capacity>1</capacity></volume>", Code::InvalidXML},
        {"<volume><name>..</name><capacity>1</capacity></volume>", Code::InvalidXML},
        {"<volume><capacity>1</capacity></volume>", Code::MissingName},
        {"<volume><name>a</name><capacity>lots</capacity></volume>", Code::InvalidXML},
        {"<volume><name>a</name><capacity>1</capacity><target><format type='vmdk'/>"
         "</target></volume>",
         Code::NotSupported},
        {"<volume><name>a</name><capacity>1</capacity><backingStore><path>/b</path>"
         "</backingStore></volume>",
         Code::NotSupported},
        {"<volume><name>a</name><capacity>1</capacity><target><format type='qcow2'/>"
         "</target><backingStore><path>rel</path></backingStore></volume>",
         Code::InvalidXML},
        {"<!DOCTYPE v [<!ENTITY e 'x'>]><volume><name>&e;</name></volume>", Code::InvalidXML},
    };
    for (const auto& c : cases) {
        auto v = parseVolumeXml(c.xml);
        ASSERT_FALSE(v) << c.xml;
        EXPECT_EQ(v.error().code(), c.code) << c.xml << ": " << v.error().message();
    }
}

TEST(StorageVolumeXml, FormattedVolumeReadsBack) {
    VolumeInfo info;
    info.name = "a&b.qcow2";
    info.path = "/srv/p/a&b.qcow2";
    info.format = VolumeFormat::Qcow2;
    info.capacity = 1024;
    info.allocation = 512;
    info.backingPath = "/srv/p/base";
    info.backingFormat = VolumeFormat::Raw;
    std::string text = formatVolumeXml(info);
    auto back = parseVolumeXml(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back.value().name, "a&b.qcow2");
    EXPECT_EQ(back.value().capacity, 1024u);
    EXPECT_EQ(back.value().allocation, 512u);
    EXPECT_EQ(back.value().format, VolumeFormat::Qcow2);
    EXPECT_EQ(back.value().backingPath, "/srv/p/base");
    auto doc = xml::Document::parse(text).value();
    EXPECT_EQ(xml::text(xml::firstChild(doc.root(), "key")), "/srv/p/a&b.qcow2");
}
