// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/definer.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

TEST(DefinerRecord, RoundTripsForTheSameXml) {
    std::string xml = "<domain><name>lab-1</name></domain>";
    auto uid = parseDefinerRecord(formatDefinerRecord(1001, xml), xml);
    ASSERT_TRUE(uid);
    EXPECT_EQ(uid.value(), 1001U);
    EXPECT_EQ(parseDefinerRecord(formatDefinerRecord(0, xml), xml).value(), 0U);
}

TEST(DefinerRecord, DoesNotApplyToAnotherXml) {
    std::string record = formatDefinerRecord(0, "<domain><name>a</name></domain>");
    auto uid = parseDefinerRecord(record, "<domain><name>b</name></domain>");
    ASSERT_FALSE(uid);
    EXPECT_EQ(uid.error().code(), Code::InvalidArgs);
}

TEST(DefinerRecord, RefusesMalformedRecords) {
    std::string xml = "<domain/>";
    std::string good = formatDefinerRecord(42, xml);
    for (std::string bad :
         {std::string(), std::string("42"), std::string("x") + good,
          std::string("-1") + good.substr(2), good.substr(0, good.size() - 1), good + "trailing"}) {
        EXPECT_FALSE(parseDefinerRecord(bad, xml)) << bad;
    }
}

TEST(ResolveDefiner, IsTheCallerWithoutTheOption) {
    EXPECT_EQ(resolveDefiner(1001, {}).value(), 1001U);
    EXPECT_EQ(resolveDefiner(0, {}).value(), 0U);
}

TEST(ResolveDefiner, RootMayNameWhomItActsFor) {
    Options options{{kDefinerUidOption, sdbus::Variant(uint32_t{1001})}};
    EXPECT_EQ(resolveDefiner(0, options).value(), 1001U);
}

TEST(ResolveDefiner, OthersMayNameOnlyThemselves) {
    Options root{{kDefinerUidOption, sdbus::Variant(uint32_t{0})}};
    auto uid = resolveDefiner(1001, root);
    ASSERT_FALSE(uid);
    EXPECT_EQ(uid.error().code(), Code::InvalidArgs);
    Options self{{kDefinerUidOption, sdbus::Variant(uint32_t{1001})}};
    EXPECT_EQ(resolveDefiner(1001, self).value(), 1001U);
}

TEST(ResolveDefiner, TheOptionIsAUint32) {
    Options options{{kDefinerUidOption, sdbus::Variant(int32_t{1001})}};
    auto uid = resolveDefiner(0, options);
    ASSERT_FALSE(uid);
    EXPECT_EQ(uid.error().code(), Code::InvalidArgs);
}
