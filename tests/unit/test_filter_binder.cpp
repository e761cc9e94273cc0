// SPDX-License-Identifier: LGPL-2.1-or-later
// networkd's side of a NIC's <filterref>: AcquireTap's options checked before any TAP is
// made, and the <filterbinding> it sends nwfilterd (which parses it with its own parser).
#include "filter_binder.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/nwfilter_binding.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::network;

namespace {

using ParameterList = std::vector<sdbus::Struct<std::string, std::string>>;

Options filterOptions(ParameterList parameters) {
    return Options{
        {"mac", sdbus::Variant(std::string("52:54:00:00:00:01"))},
        {"filter", sdbus::Variant(std::string("clean-traffic"))},
        {"filter_parameters", sdbus::Variant(parameters)},
        {"owner_name", sdbus::Variant(std::string("guest"))},
        {"owner_uuid", sdbus::Variant(std::string("3c7c1c4e-9c55-4c2f-a2e8-0d6a1b0f7f01"))}};
}

} // namespace

TEST(FilterBinder, NoFilterOptionIsNoRequest) {
    auto r = filterRequestFrom(Options{{"mac", sdbus::Variant(std::string("52:54:00:00:00:01"))}});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r.value().has_value());
}

TEST(FilterBinder, BindingXmlCarriesPortMacOwnerAndListParameters) {
    auto r = filterRequestFrom(filterOptions({{"IP", "10.0.0.2"}, {"IP", "10.0.0.3"}}));
    ASSERT_TRUE(r && r.value());
    std::string xml = filterBindingXml(*r.value(), "vstap7", "52:54:00:00:00:01");
    auto parsed = nwfilter::parseBindingXml(xml);
    ASSERT_TRUE(parsed) << xml;
    const auto& def = parsed.value().def;
    EXPECT_EQ(def.portDev, "vstap7");
    EXPECT_EQ(def.mac, "52:54:00:00:00:01");
    EXPECT_EQ(def.ownerName, "guest");
    EXPECT_EQ(def.filter.filter, "clean-traffic");
    nwfilter::Parameters expected{{"IP", "10.0.0.2"}, {"IP", "10.0.0.3"}};
    EXPECT_EQ(def.filter.parameters, expected);
}

TEST(FilterBinder, MarkupInValuesStaysAValue) {
    // The value reaches nwfilterd as the value (where its type is checked), never as XML.
    auto r = filterRequestFrom(filterOptions({{"IP", "1.2.3.4'/><parameter name='X"}}));
    ASSERT_TRUE(r && r.value());
    auto parsed =
        nwfilter::parseBindingXml(filterBindingXml(*r.value(), "vstap0", "52:54:00:00:00:01"));
    ASSERT_TRUE(parsed);
    ASSERT_EQ(parsed.value().def.filter.parameters.size(), 1u);
    EXPECT_EQ(parsed.value().def.filter.parameters[0].second, "1.2.3.4'/><parameter name='X");
}

TEST(FilterBinder, BadOptionsAreInvalidArgs) {
    Options wrongType = filterOptions({});
    wrongType["filter"] = sdbus::Variant(int32_t{1});
    Options badName = filterOptions({{"not a name", "x"}});
    Options longValue = filterOptions({{"IP", std::string(nwfilter::kMaxValueBytes + 1, '1')}});
    Options badUuid = filterOptions({});
    badUuid["owner_uuid"] = sdbus::Variant(std::string("nope"));
    Options parametersAlone{
        {"filter_parameters", sdbus::Variant(ParameterList{{"IP", "1.2.3.4"}})}};
    ParameterList many(nwfilter::kMaxParameters + 1, {"IP", "10.0.0.1"});
    Options tooMany = filterOptions(many);
    for (const Options* o :
         {&wrongType, &badName, &longValue, &badUuid, &parametersAlone, &tooMany}) {
        auto r = filterRequestFrom(*o);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), Code::InvalidArgs) << r.error().message();
    }
}

TEST(FilterBinder, DomainInterfaceFilterref) {
    InterfaceDef nic;
    std::string xml = "<domain type='qemu'><name>g</name><memory>131072</memory>"
                      "<os><type>hvm</type></os><devices>"
                      "<interface type='network'><source network='default'/>"
                      "<filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.9'/>"
                      "</filterref></interface></devices></domain>";
    auto domain = parseDomainXml(xml);
    ASSERT_TRUE(domain) << domain.error().message();
    ASSERT_EQ(domain.value().def.interfaces.size(), 1u);
    const auto& ref = domain.value().def.interfaces[0].filterref;
    ASSERT_TRUE(ref.has_value());
    EXPECT_EQ(ref->filter, "clean-traffic");
    EXPECT_EQ(ref->parameters, (nwfilter::Parameters{{"IP", "10.0.0.9"}}));
    // A user-mode NIC has no TAP to bind: refused rather than ignored.
    std::string user = "<domain type='qemu'><name>g</name><memory>131072</memory>"
                       "<os><type>hvm</type></os><devices>"
                       "<interface type='user'><filterref filter='clean-traffic'/></interface>"
                       "</devices></domain>";
    auto refused = parseDomainXml(user);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), Code::ConfigUnsupported);
}
