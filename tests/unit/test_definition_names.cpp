// SPDX-License-Identifier: LGPL-2.1-or-later
// Names and UUIDs that would define but could never run are refused at define time.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/network_def.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

const char* kUuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";

std::string domainWith(const std::string& nameAndUuid) {
    return "<domain type='qemu'>" + nameAndUuid +
           "<memory>1024</memory><os><type>hvm</type></os></domain>";
}

std::string networkWith(const std::string& nameAndUuid) {
    return "<network>" + nameAndUuid + "</network>";
}

std::string named(const std::string& name) {
    return "<name>" + name + "</name>";
}

struct Refused {
    const char* what;
    std::string nameAndUuid;
    const char* messagePart;
    // libvirt's distinctions: NO_NAME for no name, XML_DETAIL for text that is not XML.
    Code code = Code::InvalidXML;
};

const Refused kRefusedByBoth[] = {
    {"no name", "", "missing", Code::MissingName},
    {"empty name", named(""), "missing", Code::MissingName},
    {"dot", named("."), "not allowed"},
    {"dot dot", named(".."), "not allowed"},
    {"leading dash", named("-x"), "must not start with '-'"},
    {"leading dot", named(".hidden"), "must not start with '.'"},
    {"slash", named("a/b"), "'/'"},
    {"tab", named("a&#9;b"), "control character"},
    {"escape", named("a\x1b[31m"), "", Code::MalformedXML}, // not even XML: the parser refuses it
    {"carriage return", named("a&#13;b"), "control character"},
    {"two names", named("a") + named("b"), "more than one <name>"},
    {"all-zero uuid", named("a") + "<uuid>00000000-0000-0000-0000-000000000000</uuid>", "all-zero"},
    {"two uuids", named("a") + "<uuid>" + kUuid + "</uuid><uuid>" + kUuid + "</uuid>",
     "more than one <uuid>"},
    {"malformed uuid", named("a") + "<uuid>nope</uuid>", "invalid <uuid>"},
};

} // namespace

TEST(DefinitionNames, DomainRefusals) {
    std::vector<Refused> cases(std::begin(kRefusedByBoth), std::end(kRefusedByBoth));
    cases.push_back({"longer than the log file name allows",
                     named(std::string(kMaxDomainNameBytes + 1, 'n')), "longer than 251"});
    cases.push_back({"255 characters", named(std::string(255, 'n')), "longer than"});
    for (const auto& c : cases) {
        auto r = parseDomainXml(domainWith(c.nameAndUuid));
        ASSERT_FALSE(r) << c.what;
        EXPECT_EQ(r.error().code(), c.code) << c.what;
        EXPECT_NE(r.error().message().find(c.messagePart), std::string::npos)
            << c.what << ": " << r.error().message();
    }
}

TEST(DefinitionNames, NetworkRefusals) {
    std::vector<Refused> cases(std::begin(kRefusedByBoth), std::end(kRefusedByBoth));
    cases.push_back(
        {"too long", named(std::string(network::kMaxNetworkNameBytes + 1, 'n')), "longer than 64"});
    cases.push_back({"space", named("a b"), "space"});
    for (const auto& c : cases) {
        auto r = network::parseNetworkXml(networkWith(c.nameAndUuid));
        ASSERT_FALSE(r) << c.what;
        EXPECT_EQ(r.error().code(), c.code) << c.what;
        EXPECT_NE(r.error().message().find(c.messagePart), std::string::npos)
            << c.what << ": " << r.error().message();
    }
}

TEST(DefinitionNames, AcceptsOrdinaryNames) {
    const std::string names[] = {"web1", "a.b-c_d",     "lab-01",
                                 "x..y", "caf\xc3\xa9", std::string(kMaxDomainNameBytes, 'n')};
    for (const auto& name : names) {
        auto r = parseDomainXml(domainWith(named(name)));
        ASSERT_TRUE(r) << name << ": " << r.error().message();
        EXPECT_EQ(r.value().def.name, name);
    }
    auto net = network::parseNetworkXml(networkWith(named("default")));
    ASSERT_TRUE(net) << net.error().message();
}
