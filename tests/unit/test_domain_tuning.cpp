// SPDX-License-Identifier: LGPL-2.1-or-later
// Memory, vCPU counts, metadata and keys: the definition edits behind virsh setmem,
// setmaxmem, setvcpus, desc and metadata, and send-key's keycode translation, checked
// against libvirt's documented rules and error codes.
#include "virtswarm/domain_metadata.hpp"
#include "virtswarm/domain_tuning.hpp"
#include "virtswarm/keycodes.hpp"
#include "virtswarm/xml.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

DomainXml domain(const std::string& extra = "", const std::string& vcpu = "<vcpu>4</vcpu>") {
    auto r = parseDomainXml("<domain type='qemu'><name>tuned</name>"
                            "<uuid>0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0</uuid>" +
                            extra +
                            "<memory unit='MiB'>512</memory>"
                            "<currentMemory unit='MiB'>384</currentMemory>" +
                            vcpu + "<os><type>hvm</type></os><devices/></domain>");
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    auto d = r.value();
    d.definer = 1234;
    return d;
}

Code codeOf(const Result<DomainXml>& r) {
    EXPECT_FALSE(r);
    return r ? Code::Internal : r.error().code();
}

} // namespace

TEST(DomainTuning, CurrentMemoryChangesWithinTheMaximum) {
    auto r = withMemory(domain(), 256 * 1024, false);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().def.currentMemoryKiB, 256u * 1024);
    EXPECT_EQ(r.value().def.memoryKiB, 512u * 1024);
    EXPECT_EQ(r.value().definer, 1234u); // whose definition it is does not change
    EXPECT_NE(r.value().xml.find("<currentMemory unit=\"KiB\">262144</currentMemory>"),
              std::string::npos)
        << r.value().xml;
}

TEST(DomainTuning, MemoryAboveTheMaximumOrZeroIsInvalidArg) {
    EXPECT_EQ(codeOf(withMemory(domain(), 512 * 1024 + 1, false)), Code::InvalidArgs);
    EXPECT_EQ(codeOf(withMemory(domain(), 0, false)), Code::InvalidArgs);
    EXPECT_EQ(codeOf(withMemory(domain(), 0, true)), Code::InvalidArgs);
    EXPECT_EQ(codeOf(withMemory(domain(), (16ULL << 30) + 1, true)), Code::InvalidArgs);
    auto r = withMemory(domain(), 1024 * 1024, false);
    EXPECT_EQ(r.error().message(), "cannot set memory higher than max memory");
}

TEST(DomainTuning, MaximumMemoryShrinksTheCurrentSizeWithIt) {
    auto grown = withMemory(domain(), 1024 * 1024, true);
    ASSERT_TRUE(grown) << grown.error().message();
    EXPECT_EQ(grown.value().def.memoryKiB, 1024u * 1024);
    EXPECT_EQ(grown.value().def.currentMemoryKiB, 384u * 1024); // kept
    auto shrunk = withMemory(domain(), 128 * 1024, true);
    ASSERT_TRUE(shrunk) << shrunk.error().message();
    EXPECT_EQ(shrunk.value().def.memoryKiB, 128u * 1024);
    EXPECT_EQ(shrunk.value().def.currentMemoryKiB, 128u * 1024);
}

TEST(DomainTuning, VcpuCurrentAttributeIsParsedAndBounded) {
    auto d = domain("", "<vcpu current='2'>4</vcpu>");
    EXPECT_EQ(d.def.vcpus, 4u);
    EXPECT_EQ(d.def.vcpusCurrent, 2u);
    EXPECT_EQ(domain().def.vcpusCurrent, 4u);
    for (const char* bad : {"0", "5", "two"}) {
        auto r = parseDomainXml(std::string("<domain type='qemu'><name>v</name>"
                                            "<memory>131072</memory><vcpu current='") +
                                bad + "'>4</vcpu><os><type>hvm</type></os></domain>");
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), Code::InvalidXML) << bad;
    }
}

TEST(DomainTuning, CurrentVcpusChangeWithinTheMaximum) {
    auto r = withVcpus(domain(), 2, false);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().def.vcpus, 4u);
    EXPECT_EQ(r.value().def.vcpusCurrent, 2u);
    EXPECT_NE(r.value().xml.find("current=\"2\">4</vcpu>"), std::string::npos) << r.value().xml;
    // Back to the maximum: libvirt writes no current attribute then.
    auto full = withVcpus(r.value(), 4, false);
    ASSERT_TRUE(full) << full.error().message();
    EXPECT_EQ(full.value().def.vcpusCurrent, 4u);
    EXPECT_EQ(full.value().xml.find("current="), std::string::npos) << full.value().xml;
}

TEST(DomainTuning, VcpusAboveTheMaximumOrZeroIsInvalidArg) {
    auto r = withVcpus(domain(), 5, false);
    EXPECT_EQ(codeOf(r), Code::InvalidArgs);
    EXPECT_EQ(r.error().message(), "requested vcpus is greater than max allowable vcpus for the "
                                   "persistent domain: 5 > 4");
    EXPECT_EQ(codeOf(withVcpus(domain(), 0, false)), Code::InvalidArgs);
    EXPECT_EQ(codeOf(withVcpus(domain(), 256, true)), Code::InvalidArgs);
}

TEST(DomainTuning, MaximumVcpusShrinkTheCurrentCountWithIt) {
    auto d = domain("", "<vcpu current='3'>4</vcpu>");
    auto grown = withVcpus(d, 8, true);
    ASSERT_TRUE(grown) << grown.error().message();
    EXPECT_EQ(grown.value().def.vcpus, 8u);
    EXPECT_EQ(grown.value().def.vcpusCurrent, 3u);
    auto shrunk = withVcpus(d, 2, true);
    ASSERT_TRUE(shrunk) << shrunk.error().message();
    EXPECT_EQ(shrunk.value().def.vcpus, 2u);
    EXPECT_EQ(shrunk.value().def.vcpusCurrent, 2u);
}

TEST(DomainTuning, RenameKeepsEverythingButTheName) {
    auto r = withName(domain("<title>t</title>"), "tuned-2");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().def.name, "tuned-2");
    EXPECT_EQ(r.value().def.uuid, domain().def.uuid);
    EXPECT_EQ(r.value().def.currentMemoryKiB, 384u * 1024);
    EXPECT_EQ(r.value().definer, 1234u);
    EXPECT_NE(r.value().xml.find("<title>t</title>"), std::string::npos);
    // A name the parser refuses is refused here too; markup in it stays text.
    EXPECT_FALSE(withName(domain(), ""));
    EXPECT_FALSE(withName(domain(), "a/b"));
    auto odd = withName(domain(), "a&b");
    ASSERT_TRUE(odd) << odd.error().message();
    EXPECT_EQ(odd.value().def.name, "a&b");
}

TEST(DomainMetadata, TitleAndDescriptionAreSetReadAndRemoved) {
    auto missing = metadataOf(domain().xml, MetadataKind::Title, "");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Code::NoDomainMetadata);

    auto titled = withMetadata(domain(), MetadataKind::Title, "Web <front> & co", "", "");
    ASSERT_TRUE(titled) << titled.error().message();
    auto described =
        withMetadata(titled.value(), MetadataKind::Description, "  two\n  lines  ", "", "");
    ASSERT_TRUE(described) << described.error().message();
    const std::string& xml = described.value().xml;
    EXPECT_EQ(metadataOf(xml, MetadataKind::Title, "").value(), "Web <front> & co");
    EXPECT_EQ(metadataOf(xml, MetadataKind::Description, "").value(), "  two\n  lines  ");
    // libvirt's order: name, uuid, title, description.
    EXPECT_LT(xml.find("<uuid>"), xml.find("<title>"));
    EXPECT_LT(xml.find("<title>"), xml.find("<description>"));
    EXPECT_LT(xml.find("<description>"), xml.find("<memory"));

    auto removed = withMetadata(described.value(), MetadataKind::Title, "", "", "");
    ASSERT_TRUE(removed) << removed.error().message();
    EXPECT_EQ(metadataOf(removed.value().xml, MetadataKind::Title, "").error().code(),
              Code::NoDomainMetadata);
    EXPECT_TRUE(metadataOf(removed.value().xml, MetadataKind::Description, ""));
}

TEST(DomainMetadata, TitleWithANewlineOrStrayKeyIsInvalidArg) {
    auto r = withMetadata(domain(), MetadataKind::Title, "one\ntwo", "", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidArgs);
    EXPECT_EQ(r.error().message(), "Domain title can't contain newlines");
    EXPECT_FALSE(withMetadata(domain(), MetadataKind::Description, "d", "k", "http://x/"));
    EXPECT_EQ(parseMetadataKind("other").error().code(), Code::InvalidArgs);
    EXPECT_EQ(withMetadata(domain(), MetadataKind::Title, std::string(300 * 1024, 'x'), "", "")
                  .error()
                  .code(),
              Code::InvalidArgs);
}

TEST(DomainMetadata, ElementsAreKeptPerNamespace) {
    const std::string app1 = "http://app1.example/ns/";
    const std::string app2 = "http://app2.example/ns/";
    auto one =
        withMetadata(domain(), MetadataKind::Element, "<foo bar='1'><baz/></foo>", "app1", app1);
    ASSERT_TRUE(one) << one.error().message();
    auto two = withMetadata(one.value(), MetadataKind::Element, "<other>x</other>", "app2", app2);
    ASSERT_TRUE(two) << two.error().message();
    auto got = metadataOf(two.value().xml, MetadataKind::Element, app1);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got.value(),
              "<app1:foo xmlns:app1=\"http://app1.example/ns/\" bar=\"1\"><baz/></app1:foo>");
    // Replacing app1's element leaves app2's.
    auto replaced = withMetadata(two.value(), MetadataKind::Element, "<foo>2</foo>", "app1", app1);
    ASSERT_TRUE(replaced) << replaced.error().message();
    EXPECT_EQ(metadataOf(replaced.value().xml, MetadataKind::Element, app1).value(),
              "<app1:foo xmlns:app1=\"http://app1.example/ns/\">2</app1:foo>");
    EXPECT_TRUE(metadataOf(replaced.value().xml, MetadataKind::Element, app2));
    // Removing it.
    auto removed = withMetadata(replaced.value(), MetadataKind::Element, "", "", app1);
    ASSERT_TRUE(removed) << removed.error().message();
    EXPECT_EQ(metadataOf(removed.value().xml, MetadataKind::Element, app1).error().code(),
              Code::NoDomainMetadata);
    EXPECT_TRUE(metadataOf(removed.value().xml, MetadataKind::Element, app2));
    // The definition still parses, and is whose it was.
    EXPECT_EQ(removed.value().definer, 1234u);
}

TEST(DomainMetadata, BadElementsChangeNothing) {
    const std::string uri = "http://app1.example/ns/";
    EXPECT_EQ(withMetadata(domain(), MetadataKind::Element, "<foo>", "app1", uri).error().code(),
              Code::MalformedXML);
    EXPECT_EQ(withMetadata(domain(), MetadataKind::Element, "<foo/>", "", uri).error().code(),
              Code::InvalidArgs);
    EXPECT_EQ(withMetadata(domain(), MetadataKind::Element, "<foo/>", "1bad", uri).error().code(),
              Code::InvalidArgs);
    EXPECT_EQ(withMetadata(domain(), MetadataKind::Element, "<foo/>", "app1", "").error().code(),
              Code::InvalidArgs);
    EXPECT_EQ(metadataOf(domain().xml, MetadataKind::Element, "").error().code(),
              Code::InvalidArgs);
    // No entities expanded, no DTD: the XML parser's own rules.
    EXPECT_FALSE(withMetadata(domain(), MetadataKind::Element,
                              "<!DOCTYPE foo [<!ENTITY x 'y'>]><foo>&x;</foo>", "app1", uri));
}

TEST(Keycodes, LinuxCodesBecomeQnums) {
    // KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE: E0 53 is qnum 0xd3.
    auto r = toQnumKeys("linux", {29, 56, 111});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value(), (std::vector<uint32_t>{0x1d, 0x38, 0xd3}));
    EXPECT_EQ(toQnumKeys("linux", {87, 88, 125}).value(),
              (std::vector<uint32_t>{0x57, 0x58, 0xdb})); // F11, F12, left meta
}

TEST(Keycodes, XtAtset1AndQnum) {
    EXPECT_EQ(toQnumKeys("xt", {0x1e}).value(), std::vector<uint32_t>{0x1e});
    EXPECT_EQ(toQnumKeys("atset1", {0x1e, 0xe053}).value(), (std::vector<uint32_t>{0x1e, 0xd3}));
    EXPECT_EQ(toQnumKeys("qnum", {0xd3}).value(), std::vector<uint32_t>{0xd3});
    EXPECT_EQ(toQnumKeys("rfb", {0x1e}).value(), std::vector<uint32_t>{0x1e});
}

TEST(Keycodes, UnknownKeysSetsAndCountsAreInvalidArg) {
    EXPECT_EQ(toQnumKeys("linux", {}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(toQnumKeys("linux", std::vector<uint32_t>(17, 30)).error().code(), Code::InvalidArgs);
    EXPECT_TRUE(toQnumKeys("linux", std::vector<uint32_t>(16, 30)));
    EXPECT_EQ(toQnumKeys("linux", {0}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(toQnumKeys("linux", {999}).error().message(),
              "cannot translate keycode 999 of linux codeset to qnum keycode");
    EXPECT_EQ(toQnumKeys("xt", {0x80}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(toQnumKeys("usb", {4}).error().code(), Code::InvalidArgs);
    EXPECT_EQ(keycodeSetName(0), "linux");
    EXPECT_EQ(keycodeSetName(9), "qnum");
    EXPECT_EQ(keycodeSetName(7), ""); // usb: not translated
}
