// SPDX-License-Identifier: LGPL-2.1-or-later
// Hostile XML: entity bombs and other DTD tricks are refused before libxml2 builds a tree.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/network_def.hpp"
#include "virtswarm/xml.hpp"

#include <chrono>
#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

const std::string kDomainBody = "<name>d</name><memory>1024</memory><os><type>hvm</type></os>";

struct Case {
    const char* what;
    std::string xml;
};

// The quadratic blowup: one big entity referenced many times. Under the 4 MiB limit, it
// would expand to gigabytes.
std::string quadraticBomb(size_t entityBytes, size_t references) {
    std::string doc = "<!DOCTYPE domain [<!ENTITY x \"" + std::string(entityBytes, 'a') +
                      "\">]>\n<domain type='qemu'>" + kDomainBody + "<description>";
    for (size_t i = 0; i < references; ++i) {
        doc += "&x;";
    }
    return doc + "</description></domain>";
}

} // namespace

TEST(XmlHostile, RefusesDtdsAndEntities) {
    const Case cases[] = {
        {"doctype", "<!DOCTYPE domain><domain type='qemu'>" + kDomainBody + "</domain>"},
        {"internal entity",
         "<!DOCTYPE domain [<!ENTITY x 'y'>]><domain type='qemu'>" + kDomainBody + "</domain>"},
        {"billion laughs",
         "<!DOCTYPE d [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;'>]>"
         "<domain type='qemu'>" +
             kDomainBody + "<description>&c;</description></domain>"},
        {"external entity", "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/shadow'>]>"
                            "<domain type='qemu'>" +
                                kDomainBody + "<description>&e;</description></domain>"},
        {"parameter entity", "<!DOCTYPE d [<!ENTITY % p SYSTEM 'http://example.com/x'> %p;]>"
                             "<domain type='qemu'>" +
                                 kDomainBody + "</domain>"},
        {"undeclared reference in text",
         "<domain type='qemu'>" + kDomainBody + "<description>&x;</description></domain>"},
        {"undeclared reference in an attribute",
         "<domain type='qemu' id='&x;'>" + kDomainBody + "</domain>"},
        {"doctype after a comment and a declaration",
         "<?xml version='1.0'?><!-- hi --><!DOCTYPE d [<!ENTITY x 'y'>]><domain type='qemu'>" +
             kDomainBody + "</domain>"},
        {"UTF-16 hides its markup", std::string("<\0!\0D\0", 6) + "<domain/>"},
        {"an unterminated reference", "<domain type='qemu'>" + kDomainBody + "&amp</domain>"},
        {"a long reference",
         "<domain type='qemu'>" + kDomainBody + "&" + std::string(100, 'a') + ";</domain>"},
    };
    for (const auto& c : cases) {
        auto doc = xml::Document::parse(c.xml);
        ASSERT_FALSE(doc) << c.what;
        EXPECT_EQ(doc.error().code(), Code::InvalidXML) << c.what;
        EXPECT_FALSE(parseDomainXml(c.xml)) << c.what;
        EXPECT_FALSE(network::parseNetworkXml(c.xml)) << c.what;
    }
}

TEST(XmlHostile, NamesTheProblem) {
    auto doc = xml::Document::parse("<a>\n<b>&evil;</b></a>");
    ASSERT_FALSE(doc);
    EXPECT_NE(doc.error().message().find("line 2"), std::string::npos) << doc.error().message();
    EXPECT_NE(doc.error().message().find("&evil;"), std::string::npos) << doc.error().message();
    auto dtd = xml::Document::parse("<!DOCTYPE a><a/>");
    ASSERT_FALSE(dtd);
    EXPECT_NE(dtd.error().message().find("DOCTYPE"), std::string::npos) << dtd.error().message();
}

TEST(XmlHostile, KeepsWhatLibvirtFormatsUse) {
    const Case cases[] = {
        {"predefined entities and character references",
         "<a t='&lt;&gt;&amp;&apos;&quot;'>&#65;&#x42;&lt;c&gt;</a>"},
        {"markup-like text in comments, CDATA and processing instructions",
         "<?xml version='1.0' encoding='UTF-8'?><!-- <!DOCTYPE &x; -->"
         "<a><![CDATA[<!DOCTYPE x> &y;]]><?pi &z; <!x?></a>"},
        {"non-ASCII UTF-8", "<a>caf\xc3\xa9 \xe2\x9c\x93</a>"},
    };
    for (const auto& c : cases) {
        auto doc = xml::Document::parse(c.xml);
        EXPECT_TRUE(doc) << c.what << ": " << (doc ? "" : doc.error().message());
    }
    auto doc = xml::Document::parse("<a t='&lt;'>&#65;&amp;</a>");
    ASSERT_TRUE(doc);
    EXPECT_EQ(xml::text(doc.value().root()), "A&");
    EXPECT_EQ(xml::attribute(doc.value().root(), "t"), "<");
}

TEST(XmlHostile, AnEncodingDeclarationCannotChangeHowTheTextIsRead) {
    // "<?xm" in EBCDIC: libxml2 would switch to EBCDIC, where the scan sees no markup.
    std::string ebcdic = "\x4c\x6f\xa7\x94\x93";
    EXPECT_FALSE(xml::Document::parse(ebcdic + "<a/>"));
    auto declared = xml::Document::parse("<?xml version='1.0' encoding='UTF-16'?><a>x</a>");
    ASSERT_TRUE(declared) << declared.error().message();
    EXPECT_EQ(xml::text(declared.value().root()), "x");
}

TEST(XmlHostile, AQuadraticBombCostsMilliseconds) {
    // 2 MiB entity referenced 600 times: 1.2 GB once expanded, under the 4 MiB limit as sent.
    std::string bomb = quadraticBomb(2 * 1024 * 1024, 600);
    auto start = std::chrono::steady_clock::now();
    auto r = parseDomainXml(bomb);
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidXML);
    // Generous: sanitizers and a busy machine; the scan itself takes a few milliseconds.
    EXPECT_LT(elapsed, std::chrono::seconds(1));
}
