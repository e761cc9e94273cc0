// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's generic pieces for object kinds: a kind described by a few constants gets a
// cache that mirrors exactly its listed properties, and the lookup/list procedure family
// named and numbered as libvirt names and numbers it.
#include "domain_cache.hpp"
#include "network_cache.hpp"
#include "proc_object_family.hpp"

#include <gtest/gtest.h>
#include <set>

namespace virtswarm::bridge {
namespace {

// A kind as a new daemon would describe it: only the fields and their D-Bus names.
struct CachedThing : CachedObject {
    bool active = false;
    uint64_t capacity = 0;
};
struct ThingKind {
    using Object = CachedThing;
    static constexpr auto kProperties = std::make_tuple(
        mirrored("Active", &CachedThing::active), mirrored("Capacity", &CachedThing::capacity));
};

TEST(ObjectCache, MirrorsTheListedPropertiesOfANewKind) {
    ObjectCache<ThingKind> cache;
    const std::string path = "/org/example/thing/_1";
    cache.update(
        path,
        PropertyMap{{"Name", sdbus::Variant(std::string("t1"))},
                    {"UUID", sdbus::Variant(std::string("00000000-0000-0000-0000-000000000001"))},
                    {"Active", sdbus::Variant(true)},
                    {"Capacity", sdbus::Variant(uint64_t{4096})},
                    {"Unlisted", sdbus::Variant(int32_t{7})}});
    const CachedThing* t = cache.byName("t1");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->path, path);
    EXPECT_TRUE(t->active);
    EXPECT_EQ(t->capacity, 4096u);
    cache.update(path, PropertyMap{{"Capacity", sdbus::Variant(std::string("big"))}});
    EXPECT_EQ(cache.byPath(path)->capacity, 4096u); // a mistyped value changes nothing
    cache.update(path, PropertyMap{{"Capacity", sdbus::Variant(uint64_t{1})}});
    EXPECT_EQ(cache.byPath(path)->capacity, 1u);
}

TEST(ObjectCache, FlagPairsMeanEitherWhenNeitherIsSet) {
    constexpr uint32_t yes = 1, no = 2;
    EXPECT_TRUE(matchesFlagPair(0, yes, no, true));
    EXPECT_TRUE(matchesFlagPair(0, yes, no, false));
    EXPECT_TRUE(matchesFlagPair(yes, yes, no, true));
    EXPECT_FALSE(matchesFlagPair(yes, yes, no, false));
    EXPECT_FALSE(matchesFlagPair(no, yes, no, true));
    EXPECT_TRUE(matchesFlagPair(yes | no, yes, no, false));
}

struct Named {
    int32_t number;
    const char* name;
    Access access;
};

// Every procedure of the family, as libvirt's remote_protocol.x numbers it and
// libvirt's public API names it.
void expectFamily(std::span<const Procedure> table, std::initializer_list<Named> expected) {
    std::set<int32_t> seen;
    for (const auto& p : table) {
        EXPECT_TRUE(seen.insert(p.number).second) << "twice: " << p.number;
    }
    for (const auto& e : expected) {
        const Procedure* found = nullptr;
        for (const auto& p : table) {
            found = p.number == e.number ? &p : found;
        }
        ASSERT_NE(found, nullptr) << e.name;
        EXPECT_STREQ(found->name, e.name);
        EXPECT_EQ(found->access, e.access) << e.name;
        EXPECT_NE(found->handler, nullptr) << e.name;
    }
}

TEST(ObjectFamily, DomainProceduresAreNamedAndNumberedAsLibvirts) {
    expectFamily(domainQueryProcedures(), {{23, "virDomainLookupByName", Access::Read},
                                           {24, "virDomainLookupByUUID", Access::Read},
                                           {273, "virConnectListAllDomains", Access::Read},
                                           {51, "virConnectNumOfDomains", Access::Read},
                                           {25, "virConnectNumOfDefinedDomains", Access::Read},
                                           {37, "virConnectListDomains", Access::Read},
                                           {21, "virConnectListDefinedDomains", Access::Read},
                                           {150, "virDomainIsActive", Access::Read},
                                           {151, "virDomainIsPersistent", Access::Read},
                                           {15, "virDomainGetAutostart", Access::Read},
                                           {29, "virDomainSetAutostart", Access::Write},
                                           {14, "virDomainGetXMLDesc", Access::Read},
                                           {22, "virDomainLookupByID", Access::Read}});
}

TEST(ObjectFamily, NetworkProceduresAreNamedAndNumberedAsLibvirts) {
    expectFamily(networkQueryProcedures(), {{46, "virNetworkLookupByName", Access::Read},
                                            {47, "virNetworkLookupByUUID", Access::Read},
                                            {283, "virConnectListAllNetworks", Access::Read},
                                            {52, "virConnectNumOfNetworks", Access::Read},
                                            {50, "virConnectNumOfDefinedNetworks", Access::Read},
                                            {38, "virConnectListNetworks", Access::Read},
                                            {36, "virConnectListDefinedNetworks", Access::Read},
                                            {152, "virNetworkIsActive", Access::Read},
                                            {153, "virNetworkIsPersistent", Access::Read},
                                            {44, "virNetworkGetAutostart", Access::Read},
                                            {48, "virNetworkSetAutostart", Access::Write},
                                            {43, "virNetworkGetXMLDesc", Access::Read},
                                            {45, "virNetworkGetBridgeName", Access::Read}});
}

// Each number reaches the family's handler for it.
TEST(ObjectFamily, NumbersReachTheirHandlers) {
    auto handlerOf = [](std::span<const Procedure> table, int32_t number) -> Handler {
        for (const auto& p : table) {
            if (p.number == number) {
                return p.handler;
            }
        }
        return nullptr;
    };
    auto networks = networkQueryProcedures();
    EXPECT_EQ(handlerOf(networks, proto::ConnectListAllNetworks), &family::listAll<NetworkKind>);
    EXPECT_EQ(handlerOf(networks, proto::NetworkLookupByUuid), &family::lookup<NetworkKind>);
    EXPECT_EQ(handlerOf(networks, proto::ConnectListDefinedNetworks), &family::list<NetworkKind>);
    EXPECT_EQ(handlerOf(networks, proto::NetworkGetXmlDesc), &family::getXmlDesc<NetworkKind>);
    auto domains = domainQueryProcedures();
    EXPECT_EQ(handlerOf(domains, proto::ConnectListAllDomains), &family::listAll<DomainKind>);
    EXPECT_EQ(handlerOf(domains, proto::DomainSetAutostart), &family::setAutostart<DomainKind>);
}

// The family checks what the kind's own D-Bus methods check, with the kind's details.
TEST(ObjectFamily, ChecksTheActionsOfTheKindsMethods) {
    EXPECT_EQ(actions::forMethod(NetworkKind::kBus.interface, "GetXML").actionId,
              "org.virtswarm.network.read");
    EXPECT_EQ(actions::forMethod(NetworkKind::kBus.interface, "SetAutostart").actionId,
              "org.virtswarm.network.write");
    EXPECT_EQ(actions::forMethod(DomainKind::kBus.interface, "GetXML").actionId,
              "org.virtswarm.domain.read");
    EXPECT_EQ(DomainKind::kWire.secureAction, "org.virtswarm.domain.read-secure");
    EXPECT_TRUE(NetworkKind::kWire.secureAction.empty());
    UuidBytes uuid{};
    uuid[15] = 1;
    auto details = actions::objectDetails(NetworkKind::kWire.detailPrefix, "lan", uuid);
    EXPECT_EQ(details.at("network_name"), "lan");
    EXPECT_EQ(details.at("network_uuid"), "00000000-0000-0000-0000-000000000001");
    EXPECT_EQ(actions::objectDetails(DomainKind::kWire.detailPrefix, "web", uuid).at("domain_name"),
              "web");
}

} // namespace
} // namespace virtswarm::bridge
