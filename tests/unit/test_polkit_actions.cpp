// SPDX-License-Identifier: LGPL-2.1-or-later
// The method -> polkit action table: every action it names is declared in the policy the
// project installs, each method appears once, and the details carry the object's names.
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/polkit_actions.hpp"

#include <gtest/gtest.h>
#include <set>

using namespace virtswarm;

namespace {

TEST(PolkitActions, EveryActionIsDeclaredInThePolicy) {
    auto policy =
        readFile(std::string(VIRTSWARM_SOURCE_DIR) + "/polkit/org.virtswarm.policy", 1 << 20);
    ASSERT_TRUE(policy) << policy.error().message();
    // storaged's actions install with the storage component, from a file of their own.
    auto storage = readFile(
        std::string(VIRTSWARM_SOURCE_DIR) + "/polkit/org.virtswarm.storage.policy", 1 << 20);
    ASSERT_TRUE(storage) << storage.error().message();
    policy.value() += storage.value();
    // lockd's too.
    auto lock =
        readFile(std::string(VIRTSWARM_SOURCE_DIR) + "/polkit/org.virtswarm.lock.policy", 1 << 20);
    ASSERT_TRUE(lock) << lock.error().message();
    policy.value() += lock.value();
    // logd's too.
    auto logd =
        readFile(std::string(VIRTSWARM_SOURCE_DIR) + "/polkit/org.virtswarm.log.policy", 1 << 20);
    ASSERT_TRUE(logd) << logd.error().message();
    policy.value() += logd.value();
    for (const auto& entry : actions::kMethodActions) {
        for (const auto& id : actions::actionIds(entry)) {
            std::string declared = "<action id=\"" + id + "\">";
            EXPECT_NE(policy.value().find(declared), std::string::npos)
                << id << " (for " << entry.interface << "." << entry.method << ")";
        }
    }
    // The libvirt bridge's two libvirt actions, declared for hosts without libvirt's file.
    auto libvirtManage = readFile(
        std::string(VIRTSWARM_SOURCE_DIR) + "/polkit/org.virtswarm.libvirt-manage.policy", 1 << 20);
    ASSERT_TRUE(libvirtManage) << libvirtManage.error().message();
    policy.value() += libvirtManage.value();
    for (auto id : {actions::kDomainDiscardSaveAction, actions::kDomainReadSecureAction,
                    actions::kLibvirtManageAction, actions::kLibvirtMonitorAction}) {
        std::string declared = "<action id=\"" + std::string(id) + "\">";
        EXPECT_NE(policy.value().find(declared), std::string::npos) << id;
    }
}

TEST(PolkitActions, EachMethodHasOneEntry) {
    std::set<std::pair<std::string_view, std::string_view>> seen;
    for (const auto& entry : actions::kMethodActions) {
        EXPECT_TRUE(seen.emplace(entry.interface, entry.method).second)
            << entry.interface << "." << entry.method;
    }
}

TEST(PolkitActions, LookupIsByInterfaceAndMethod) {
    constexpr auto start = actions::forMethod(names::kNetworkInterface, "Start");
    EXPECT_EQ(start.actionId, "org.virtswarm.network.start");
    constexpr auto tap = actions::forMethod(names::kNetworkManagerInterface, "AcquireTap");
    EXPECT_EQ(tap.details, actions::Details::ObjectOrBridge);
}

TEST(PolkitActions, ASecondRightFollowsTheFirst) {
    actions::MethodAction both{"i", "CreateXML", "org.virtswarm.domain.save",
                               actions::Details::Object, "org.virtswarm.domain.start"};
    EXPECT_EQ(actions::actionIds(both), (std::vector<std::string>{"org.virtswarm.domain.save",
                                                                  "org.virtswarm.domain.start"}));
    EXPECT_EQ(actions::actionIds(actions::forMethod(names::kNetworkInterface, "Stop")),
              (std::vector<std::string>{"org.virtswarm.network.stop"}));
}

TEST(PolkitActions, ObjectDetailsAreNounNameAndDashedUuid) {
    auto uuid = parseUuid("0a5f6a8e9a504d52a1b04c8e5d1c2f01").value();
    auto details = actions::objectDetails("network", "default", uuid);
    EXPECT_EQ(details, (PolkitDetails{{"network_name", "default"},
                                      {"network_uuid", "0a5f6a8e-9a50-4d52-a1b0-4c8e5d1c2f01"}}));
}

} // namespace
